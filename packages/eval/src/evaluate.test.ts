import { Rng } from '@hier-ts/core';
import { type Batch, type EmbeddingModel, initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { embedSource, evaluate, evaluateEmbeddings, formatEvalResult } from './evaluate.js';
import { knn } from './knn.js';
import { matrix } from './matrix.js';
import { recallAtK } from './metrics.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** A stand-in model: flattens the "image" and scales it into the ball (c = 0.1). */
const toyModel: EmbeddingModel = {
  name: 'toy',
  embeddingDim: 6,
  embed: (x) => tf.tidy(() => tf.mul(tf.reshape(x, [x.shape[0], -1]), 0.3) as tf.Tensor2D),
  namedVariables: () => [],
  stateVariables: () => [],
  dispose: () => {},
};

function makeSource(x: Float32Array, labels: Int32Array, batch: number, rng: Rng, coarse?: Int32Array) {
  const n = labels.length;
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  return {
    coarseLabels: coarse,
    async *batches(): AsyncIterable<Batch> {
      for (let s = 0; s < n; s += batch) {
        const ids = order.subarray(s, Math.min(n, s + batch));
        const images = new Float32Array(ids.length * 6);
        ids.forEach((id, r) => {
          images.set(x.subarray(id * 6, id * 6 + 6), r * 6);
        });
        yield { images, shape: [ids.length, 1, 2, 3], labels: Int32Array.from(ids, (id) => labels[id]!), indices: Int32Array.from(ids) };
      }
    },
  };
}

describe('evaluate', () => {
  const rng = new Rng(11);
  const n = 120;
  const labels = Int32Array.from({ length: n }, (_, i) => i % 12);
  const coarse = Int32Array.from(labels, (l) => l % 3);
  const x = new Float32Array(n * 6);
  for (let i = 0; i < n; i++) for (let j = 0; j < 6; j++) x[i * 6 + j] = (j === labels[i]! % 6 ? 2 : 0) + rng.normal();

  it('embeds in position order, computes every metric, and matches direct computation', async () => {
    const src = makeSource(x, labels, 17, new Rng(2), coarse);
    const emb = await embedSource(toyModel, src);
    expect(Array.from(emb.indices)).toEqual([...Array(n).keys()]);
    expect(Array.from(emb.labels)).toEqual(Array.from(labels));
    expect(emb.embeddings.data[5 * 6 + 1]).toBeCloseTo(x[5 * 6 + 1]! * 0.3, 6);
    const res = await evaluate(toyModel, src, 'cub', { log: () => {} });
    const direct = await knn(emb.embeddings, null, { k: 8, similarity: 'poincare', c: 0.1, workers: 0 });
    const rec = recallAtK(direct, labels, labels, [1, 2, 4, 8]);
    expect(res.recall['R@1']).toBeCloseTo(rec[1]!, 12);
    expect(res.recall['R@8']).toBeCloseTo(rec[8]!, 12);
    expect(res.mapAtR).not.toBeNull();
    expect(res.mapAtR!).toBeGreaterThan(0);
    expect(res.nmi!).toBeGreaterThan(0);
    expect(res.coarseRecall!['R@1']).toBeGreaterThanOrEqual(res.recall['R@1']!);
    expect(res.counts).toMatchObject({ queries: n, gallery: n, classes: 12, loneQueries: 0, dim: 6 });
    expect(formatEvalResult(res)).toMatch(/^\[cub, poincare c=0.1\] R@1 /);
    expect(JSON.parse(JSON.stringify(res)).recall['R@2']).toBe(res.recall['R@2']);
  });

  it('reports the official position-masked In-shop recall next to the corrected one', async () => {
    // Gallery item i is query i's only match: the official mask hides it, the corrected number finds it.
    const q = new Float32Array(4 * 2);
    const g = new Float32Array(4 * 2);
    for (let i = 0; i < 4; i++) {
      q[i * 2] = Math.cos(i);
      q[i * 2 + 1] = Math.sin(i);
      g.set(q.subarray(i * 2, i * 2 + 2), i * 2);
    }
    const lab = Int32Array.from([0, 1, 2, 3]);
    const res = await evaluateEmbeddings(
      { embeddings: matrix(q, 2), labels: lab, indices: Int32Array.from([0, 1, 2, 3]) },
      { embeddings: matrix(g, 2), labels: lab, indices: Int32Array.from([0, 1, 2, 3]) },
      'inshop',
      { overrides: { ks: [1, 2], nmi: false } },
    );
    expect(res.recall['R@1']).toBe(1);
    expect(res.recallOfficial!['R@1']).toBe(0);
    expect(res.recallOfficial!['R@2']).toBe(0);
    expect(res.mapAtR).toBe(1);
  });

  it('rejects bad sources and mismatched protocols', async () => {
    const empty = { async *batches(): AsyncIterable<Batch> {} };
    await expect(evaluate(toyModel, empty, 'cub')).rejects.toThrow(/yielded no rows/);
    const bad = {
      async *batches(): AsyncIterable<Batch> {
        yield { images: new Float32Array(12), shape: [2, 1, 2, 3], labels: Int32Array.from([0]), indices: Int32Array.from([0, 1]) };
      },
    };
    await expect(evaluate(toyModel, bad, 'cub')).rejects.toThrow(/2 images but 1 labels/);
    const e = { embeddings: matrix(x, 6), labels, indices: Int32Array.from({ length: n }, (_, i) => i) };
    await expect(evaluateEmbeddings(e, null, 'inshop')).rejects.toThrow(/needs a query and a gallery/);
    const none = { embeddings: matrix(new Float32Array(0), 6), labels: new Int32Array(0), indices: new Int32Array(0) };
    await expect(evaluateEmbeddings(e, none, 'inshop')).rejects.toThrow(/gallery embeddings is empty/);
    await expect(evaluateEmbeddings(none, e, 'inshop')).rejects.toThrow(/query embeddings is empty/);
    await expect(evaluateEmbeddings({ ...e, labels: labels.subarray(0, 5) }, null, 'cub')).rejects.toThrow(/labels has 5 entries/);
    const nan = x.slice();
    nan[6 * 4] = Number.NaN;
    await expect(evaluateEmbeddings({ ...e, embeddings: matrix(nan, 6) }, null, 'cub')).rejects.toThrow(/first rows: 4/);
  });

  it('warns about lone queries and clipped K', async () => {
    const lab = Int32Array.from([0, 0, 1, 2, 2]);
    const e = { embeddings: matrix(x.subarray(0, 30), 6), labels: lab, indices: Int32Array.from([0, 1, 2, 3, 4]) };
    const res = await evaluateEmbeddings(e, null, 'cub', { overrides: { similarity: 'cosine', nmi: false } });
    expect(res.counts.loneQueries).toBe(1);
    expect(res.warnings.join('\n')).toMatch(/clipped to 4/);
    expect(res.warnings.join('\n')).toMatch(/no other item of their class/);
  });

  it('does not leak tensors across evaluations', async () => {
    const src = makeSource(x, labels, 32, new Rng(4));
    const grow = await tensorGrowthPerStep(async () => {
      await evaluate(toyModel, src, 'fmnist', { overrides: { nmi: true } });
    }, 2);
    expect(grow).toBe(0);
  });
});
