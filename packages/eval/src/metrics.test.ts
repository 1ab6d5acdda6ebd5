import { Rng } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { type KnnResult, knn } from './knn.js';
import { matrix } from './matrix.js';
import { maxRelevant, rankMetrics, recallAtK } from './metrics.js';
import { kmeans, nmiScore, normalizedMutualInfo } from './nmi.js';
import { randomMatrix } from './testing.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function handKnn(): { r: KnnResult; labels: Int32Array } {
  const lists = [
    [2, 1, 3, 4, 5],
    [0, 2, 3, 4, 5],
    [3, 0, 4, 1, 5],
    [0, 2, 4, 1, 5],
    [2, 3, 0, 1, 5],
    [0, 1, 2, 3, 4],
  ];
  return {
    r: {
      k: 5,
      rows: 6,
      similarity: 'cosine',
      indices: Int32Array.from(lists.flat()),
      scores: new Float32Array(30),
      excludedSameIndex: true,
      warnings: [],
      engine: { backend: 'test', workers: 0, seconds: 0 },
    },
    labels: Int32Array.from([0, 0, 1, 1, 1, 2]),
  };
}

describe('hand-computed metrics', () => {
  it('Recall@K counts lone queries as misses (official)', () => {
    const { r, labels } = handKnn();
    const warned: string[] = [];
    const rec = recallAtK(r, labels, labels, [1, 2, 8], (m) => warned.push(m));
    expect(rec[1]).toBeCloseTo(3 / 6, 12);
    expect(rec[2]).toBeCloseTo(5 / 6, 12);
    expect(rec[8]).toBeCloseTo(5 / 6, 12);
    expect(warned[0]).toMatch(/K=8 exceeds/);
  });
  it('MAP@R, R-Precision, P@1 exclude lone queries (PML)', () => {
    const { r, labels } = handKnn();
    const m = rankMetrics(r, labels, labels);
    expect(m.mapAtR).toBeCloseTo(0.55, 12);
    expect(m.rPrecision).toBeCloseTo(0.6, 12);
    expect(m.precisionAt1).toBeCloseTo(0.6, 12);
    expect(m.loneQueries).toBe(1);
    expect(m.maxR).toBe(2);
    expect(maxRelevant(labels, null)).toBe(2);
  });
  it('refuses a kNN list shorter than the largest class and mismatched labels', () => {
    const { r, labels } = handKnn();
    const short = { ...r, k: 1, indices: Int32Array.from([2, 0, 3, 0, 2, 0]) };
    expect(() => rankMetrics(short, labels, labels)).toThrow(/k ≥ 2/);
    expect(() => recallAtK(r, labels.subarray(0, 5), labels, [1])).toThrow(/5 entries but the kNN result has 6 rows/);
  });
  it('NMI matches sklearn on small cases', () => {
    expect(normalizedMutualInfo([0, 0, 1, 1], [0, 0, 1, 2])).toBeCloseTo(0.8, 12);
    expect(normalizedMutualInfo([0, 0, 1, 1], [5, 5, 7, 7])).toBeCloseTo(1, 12);
    expect(normalizedMutualInfo([0, 1, 0, 1], [0, 0, 1, 1])).toBeCloseTo(0, 12);
    expect(normalizedMutualInfo([3, 3, 3], [1, 1, 1])).toBe(1);
  });
});

describe('metrics against brute force on random data', () => {
  it('Recall@K and MAP@R equal a naive full-sort computation', async () => {
    const rng = new Rng(3);
    const n = 400;
    const d = 8;
    const x = randomMatrix(rng, n, d);
    const labels = Int32Array.from({ length: n }, () => rng.int(20));
    const r = await knn(matrix(x, d), null, { k: maxRelevant(labels, null), similarity: 'euclidean', workers: 0 });
    const rec = recallAtK(r, labels, labels, [1, 4]);
    const m = rankMetrics(r, labels, labels);
    let h1 = 0, h4 = 0, ap = 0, cnt = 0;
    for (let i = 0; i < n; i++) {
      const order = [...Array(n).keys()].filter((j) => j !== i).map((j) => {
        let s = 0;
        for (let t = 0; t < d; t++) s += (x[i * d + t]! - x[j * d + t]!) ** 2;
        return [s, j] as [number, number];
      }).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[1]);
      const rel = order.map((j) => labels[j] === labels[i]);
      if (rel[0]) h1++;
      if (rel.slice(0, 4).some(Boolean)) h4++;
      const R = rel.filter(Boolean).length;
      if (R === 0) continue;
      cnt++;
      let got = 0, s = 0;
      for (let j = 0; j < R; j++) if (rel[j]) s += ++got / (j + 1);
      ap += s / R;
    }
    expect(rec[1]).toBeCloseTo(h1 / n, 10);
    expect(rec[4]).toBeCloseTo(h4 / n, 10);
    expect(m.mapAtR).toBeCloseTo(ap / cnt, 6);
  });

  it('k-means recovers separated blobs (NMI = 1) and is seeded', async () => {
    const rng = new Rng(1);
    const d = 4;
    const n = 300;
    const x = new Float32Array(n * d);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      for (let j = 0; j < d; j++) x[i * d + j] = (j === labels[i] ? 10 : 0) + rng.normal() * 0.3;
    }
    expect(await nmiScore(matrix(x, d), labels, { seed: 5 })).toBeCloseTo(1, 10);
    const a = await kmeans(matrix(x, d), { k: 7, rng: new Rng(9) });
    const b = await kmeans(matrix(x, d), { k: 7, rng: new Rng(9) });
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments));
    expect(new Set(Array.from(a.assignments)).size).toBe(7);
  });
});
