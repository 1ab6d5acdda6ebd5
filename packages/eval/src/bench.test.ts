import { describe, expect, it } from 'vitest';
import { runBenchmarks } from './bench.js';

describe.skipIf(!process.env.HIER_EVAL_BENCH)('kNN benchmark (set HIER_EVAL_BENCH=1)', () => {
  it('produces the two records', async () => {
    const recs = await runBenchmarks({ quick: true, log: () => {} });
    expect(recs.map((r) => r.id)).toEqual(['knn.recall.60502x512.cosine', 'knn.recall.60502x512.poincare']);
  });
});
