import { Rng } from '@hier-ts/core';
import { initBackend, tf, tensorGrowthPerStep } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { knn, type Similarity } from './knn.js';
import { matrix } from './matrix.js';
import { poincareDistance } from './poincare.js';
import { randomBallPoints } from './testing.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function bruteForce(q: Float32Array, g: Float32Array, d: number, sim: Similarity, c: number, exclude: boolean, k: number) {
  const nq = q.length / d;
  const ng = g.length / d;
  const out: { idx: number[]; score: number[] }[] = [];
  for (let i = 0; i < nq; i++) {
    const cand: [number, number][] = [];
    for (let j = 0; j < ng; j++) {
      if (exclude && i === j) continue;
      let s = 0;
      if (sim === 'poincare') s = -poincareDistance(q, i * d, g, j * d, d, c);
      else {
        let dot = 0, qq = 0, gg = 0, e = 0;
        for (let t = 0; t < d; t++) {
          dot += q[i * d + t]! * g[j * d + t]!;
          qq += q[i * d + t]! ** 2;
          gg += g[j * d + t]! ** 2;
          e += (q[i * d + t]! - g[j * d + t]!) ** 2;
        }
        s = sim === 'dot' ? dot : sim === 'cosine' ? dot / Math.sqrt(qq * gg) : -Math.sqrt(e);
      }
      cand.push([s, j]);
    }
    cand.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    out.push({ idx: cand.slice(0, k).map((x) => x[1]), score: cand.slice(0, k).map((x) => x[0]) });
  }
  return out;
}

describe('knn', () => {
  const d = 16;
  const c = 0.1;
  const rng = new Rng(7);
  const x = randomBallPoints(rng, 300, d, c, 0.9);
  const y = randomBallPoints(rng, 257, d, c, 0.9);
  for (const sim of ['poincare', 'cosine', 'euclidean', 'dot'] as Similarity[]) {
    it(`matches brute force (${sim}, leave-one-out and query→gallery, small blocks)`, async () => {
      const k = 7;
      const self = await knn(matrix(x, d), null, { k, similarity: sim, c, blockRows: 37, blockCols: 50, workers: 0 });
      const ref = bruteForce(x, x, d, sim, c, true, k);
      let mismatches = 0;
      for (let i = 0; i < 300; i++) {
        for (let j = 0; j < k; j++) {
          if (self.indices[i * k + j] !== ref[i]!.idx[j]) mismatches++;
          expect(self.scores[i * k + j]).toBeCloseTo(ref[i]!.score[j]!, 3);
        }
      }
      expect(mismatches).toBe(0);
      const qg = await knn(matrix(x, d), matrix(y, d), { k, similarity: sim, c, blockRows: 64, blockCols: 100, workers: 0 });
      const ref2 = bruteForce(x, y, d, sim, c, false, k);
      for (let i = 0; i < 300; i++) expect(Array.from(qg.indices.subarray(i * k, i * k + k))).toEqual(ref2[i]!.idx);
    });
  }

  it('default symmetric tile (2048 rows, partial last block) matches brute force', async () => {
    const n = 2300;
    const dd = 8;
    const z = randomBallPoints(new Rng(11), n, dd, c, 0.9);
    const k = 5;
    const res = await knn(matrix(z, dd), null, { k, similarity: 'poincare', c, workers: 0 });
    const ref = bruteForce(z, z, dd, 'poincare', c, true, k);
    let mismatches = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) if (res.indices[i * k + j] !== ref[i]!.idx[j]) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('threshold guessing is exact: failed guesses are re-searched (cosine, poincare)', async () => {
    const k = 30;
    for (const sim of ['cosine', 'poincare'] as Similarity[]) {
      const ref = bruteForce(x, x, d, sim, c, true, k);
      const off = await knn(matrix(x, d), null, { k, similarity: sim, c, blockRows: 37, workers: 0, thresholdGuess: false });
      const safe = await knn(matrix(x, d), null, { k, similarity: sim, c, blockRows: 37, workers: 0 });
      // σ = −1 guesses far too high for many rows, which forces the re-search path.
      const bold = await knn(matrix(x, d), null, { k, similarity: sim, c, blockRows: 37, workers: 0, thresholdGuess: -1 });
      expect(off.engine.profile!.retried).toBe(0);
      expect(bold.engine.profile!.retried).toBeGreaterThan(20);
      for (const [name, r] of [['off', off], ['safe', safe], ['bold', bold]] as const) {
        // Positions may differ from the float64 brute force only at float32 near-ties.
        const bad: string[] = [];
        for (let i = 0; i < 300; i++)
          for (let j = 0; j < k; j++) {
            const o = i * k + j;
            if (r.indices[o] !== ref[i]!.idx[j] && Math.abs(r.scores[o]! - ref[i]!.score[j]!) > 1e-6) bad.push(`${i}:${j}`);
          }
        expect(bad, `${sim} ${name}`).toEqual([]);
      }
      expect(Array.from(safe.indices)).toEqual(Array.from(off.indices));
      expect(Array.from(safe.scores)).toEqual(Array.from(off.scores));
    }
  });

  it('sampled column guesses (tiles ≥ 512 rows) leave the results exact; ranking keys keep the order', async () => {
    const n = 3000;
    const dd = 8;
    const z = matrix(randomBallPoints(new Rng(5), n, dd, c, 0.9), dd);
    const k = 100;
    for (const sim of ['cosine', 'poincare'] as Similarity[]) {
      const off = await knn(z, null, { k, similarity: sim, c, blockRows: 512, workers: 0, thresholdGuess: false });
      const on = await knn(z, null, { k, similarity: sim, c, blockRows: 512, workers: 0 });
      expect(Array.from(on.indices)).toEqual(Array.from(off.indices));
      expect(Array.from(on.scores)).toEqual(Array.from(off.scores));
      for (const symmetric of [true, false]) {
        // Each search path against itself (the row path's float32 keys may order near-ties differently).
        const ref = symmetric ? on : await knn(z, null, { k, similarity: sim, c, blockRows: 512, workers: 0, symmetric });
        expect(ref.scoreKind).toBe('similarity');
        const keyed = await knn(z, null, { k, similarity: sim, c, blockRows: 512, workers: 0, symmetric, scores: 'ranking-key' });
        expect(keyed.scoreKind).toBe('ranking-key');
        expect(Array.from(keyed.indices)).toEqual(Array.from(ref.indices));
        if (sim === 'cosine') expect(Array.from(keyed.scores)).toEqual(Array.from(ref.scores));
        else {
          // −‖x−y‖²/(1−c‖y‖²): check one row against its definition.
          for (let j = 0; j < 5; j++) {
            const g = keyed.indices[j]!;
            let dist2 = 0;
            let y2 = 0;
            for (let t = 0; t < dd; t++) {
              dist2 += (z.data[t]! - z.data[g * dd + t]!) ** 2;
              y2 += z.data[g * dd + t]! ** 2;
            }
            expect(keyed.scores[j]).toBeCloseTo(-dist2 / (1 - c * y2), 4);
          }
        }
      }
    }
    await expect(knn(z, null, { k, similarity: 'cosine', workers: 0, scores: 'distance' as never })).rejects.toThrow(/scores must be/);
  });

  it('masks the same position in a separate gallery when asked (official In-shop behaviour)', async () => {
    const r = await knn(matrix(x, d), matrix(x, d), { k: 3, similarity: 'cosine', excludeSameIndex: true, workers: 0 });
    for (let i = 0; i < 300; i++) expect(Array.from(r.indices.subarray(i * 3, i * 3 + 3))).not.toContain(i);
    const r2 = await knn(matrix(x, d), matrix(x, d), { k: 1, similarity: 'cosine', workers: 0 });
    for (let i = 0; i < 300; i++) expect(r2.indices[i]).toBe(i);
  });

  it('breaks exact ties by the lower gallery index', async () => {
    const g = new Float32Array([1, 0, 1, 0, 0, 1, 1, 0]);
    const r = await knn(matrix(new Float32Array([1, 0]), 2), matrix(g, 2), { k: 4, similarity: 'dot', workers: 0 });
    expect(Array.from(r.indices)).toEqual([0, 1, 3, 2]);
  });

  it('clips k to the gallery and warns', async () => {
    const warned: string[] = [];
    const r = await knn(matrix(x.subarray(0, 5 * d), d), null, { k: 10, similarity: 'cosine', workers: 0, warn: (m) => warned.push(m) });
    expect(r.k).toBe(4);
    expect(warned[0]).toMatch(/clipped to 4/);
  });

  it('rejects bad input with named errors', async () => {
    await expect(knn(matrix(new Float32Array(0), 4), null, { k: 1, similarity: 'cosine' })).rejects.toThrow(/empty/);
    const bad = x.slice(0, 10 * d);
    bad[3 * d + 2] = Number.NaN;
    bad[7 * d] = Number.POSITIVE_INFINITY;
    await expect(knn(matrix(bad, d), null, { k: 1, similarity: 'cosine' })).rejects.toThrow(/2 row\(s\) with NaN\/Inf values, first rows: 3, 7/);
    const out = new Float32Array(2 * d).fill(1);
    await expect(knn(matrix(out, d), null, { k: 1, similarity: 'poincare', c: 0.1 })).rejects.toThrow(/outside the Poincaré ball/);
    await expect(knn(matrix(x, d), matrix(y.subarray(0, 8 * 8), 8), { k: 1, similarity: 'cosine' })).rejects.toThrow(/dim/);
    await expect(knn(matrix(x.subarray(0, d), d), null, { k: 1, similarity: 'cosine' })).rejects.toThrow(/no candidates/);
  });

  it('accepts tensors and leaks none', async () => {
    const t = tf.tensor2d(x, [300, d]);
    const grow = await tensorGrowthPerStep(async () => {
      await knn(t, null, { k: 5, similarity: 'poincare', workers: 0 });
    });
    t.dispose();
    expect(grow).toBe(0);
  });

  it('device top-k path agrees with the streaming path', async () => {
    const { searchRowsOnDevice, searchRows, GalleryBlocks } = await import('./knn-core.js');
    const da = d;
    const gt = tf.tidy(() => tf.transpose(tf.tensor2d(x, [300, d])) as tf.Tensor2D);
    const a = await searchRowsOnDevice(x, da, 0, 300, gt, 5, 'same-index', 64);
    gt.dispose();
    const blocks = new GalleryBlocks(x, 300, da, 128);
    const b = await searchRows(x, da, 0, 300, blocks, 5, 'same-index', 64);
    blocks.dispose();
    expect(Array.from(a.idx)).toEqual(Array.from(b.idx));
  });
});

describe('knn worker threads', () => {
  it('2 workers give the same neighbours as the in-process search (symmetric tiles and row blocks)', async () => {
    const rng = new Rng(5);
    const d = 32;
    const x = randomBallPoints(rng, 1500, d, 0.1, 0.95);
    const ref = await knn(matrix(x, d), null, { k: 20, similarity: 'poincare', workers: 0, blockRows: 128 });
    const sym = await knn(matrix(x, d), null, { k: 20, similarity: 'poincare', workers: 2, blockRows: 128 });
    expect(sym.engine.workers).toBe(2);
    expect(Array.from(sym.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(sym.scores)).toEqual(Array.from(ref.scores));
    expect(sym.engine.profile!.matmul).toBeGreaterThan(0);
    expect(sym.indices.buffer).toBeInstanceOf(ArrayBuffer);
    // the plain row-block search (augmented matmul, no symmetry) finds the same neighbours
    const rows = await knn(matrix(x, d), null, { k: 20, similarity: 'poincare', workers: 2, symmetric: false, blockRows: 128, blockCols: 512 });
    expect(rows.engine.workers).toBe(2);
    expect(Array.from(rows.indices)).toEqual(Array.from(ref.indices));
    for (let i = 0; i < ref.scores.length; i++) expect(rows.scores[i]).toBeCloseTo(ref.scores[i]!, 3);
  });

  it('searches one after another and at the same time stay exact (the candidate buffer is reused, never shared)', async () => {
    const d = 16;
    const a = matrix(randomBallPoints(new Rng(8), 1200, d, 0.1, 0.95), d);
    const b = matrix(randomBallPoints(new Rng(9), 1000, d, 0.1, 0.95), d);
    const opts = { k: 15, similarity: 'cosine' as const, blockRows: 128 };
    const refA = await knn(a, null, { ...opts, workers: 0 });
    const refB = await knn(b, null, { ...opts, workers: 0 });
    // a, then the smaller b (reuses a's buffer), then both at once (one of them gets a fresh buffer)
    const seq = [await knn(a, null, { ...opts, workers: 2 }), await knn(b, null, { ...opts, workers: 2 })];
    const both = await Promise.all([knn(a, null, { ...opts, workers: 2 }), knn(b, null, { ...opts, workers: 2 })]);
    for (const [got, ref] of [
      [seq[0]!, refA],
      [seq[1]!, refB],
      [both[0], refA],
      [both[1], refB],
    ] as const) {
      expect(got.engine.workers).toBe(2);
      expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    }
  });
});
