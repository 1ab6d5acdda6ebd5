import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, relErr, runOn, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

describe('UnsortedSegmentSum on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('is registered (stock wasm lacks it)', () => {
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')?.kernelFunc).toBe(unsortedSegmentSumKernel.kernelFunc);
  });
  const cases: [string, number[], number[], number[], number][] = [
    ['rows of a matrix', [6, 3], [6], [0, 2, 0, 1, 2, 4], 5],
    ['rank-3 data', [4, 2, 3], [4], [3, 1, 1, 0], 4],
    ['negative ids are dropped', [5, 2], [5], [1, -1, 0, 1, -3], 2],
    ['1-D data', [7], [7], [2, 2, 2, 0, 1, 0, 2], 3],
  ];
  for (const [name, xs, is, ids, num] of cases) {
    it(`matches cpu: ${name}`, async () => {
      const xv = randomArray(new Rng(5), xs.reduce((a, b) => a * b));
      const { err, shapesMatch } = await compareBackends(() => {
        const x: tf.Tensor = tf.tensor(xv, xs);
        const segIds: tf.Tensor = tf.tensor(ids, is, 'int32');
        return tf.unsortedSegmentSum(x, segIds as tf.Tensor1D, num);
      });
      expect(shapesMatch).toBe(true);
      expect(err).toBeLessThan(1e-6);
    });
  }
  it('takes multi-dimensional ids like TensorFlow (the cpu reference sees them flattened)', async () => {
    const xv = randomArray(new Rng(6), 2 * 3 * 2);
    const ids = [0, 1, 0, 2, 2, 1];
    const ref = await runOn('cpu', () => tf.unsortedSegmentSum(tf.tensor(xv, [6, 2]), tf.tensor1d(ids, 'int32'), 3));
    const got = await runOn('wasm', () => tf.unsortedSegmentSum(tf.tensor(xv, [2, 3, 2]), tf.tensor(ids, [2, 3], 'int32') as unknown as tf.Tensor1D, 3));
    expect(got[0]?.shape).toEqual([3, 2]);
    expect(relErr(ref[0]!.values, got[0]!.values)).toBeLessThan(1e-6);
  });
  it('sums int32 data exactly', async () => {
    await initBackend('wasm');
    const out = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], 'int32'), tf.tensor1d([1, 0, 1, 1], 'int32'), 3);
    expect(out.dtype).toBe('int32');
    expect(Array.from(await out.data())).toEqual([2, 8, 0]);
    out.dispose();
  });
  it('is the gather gradient: tf.grad through gather matches cpu', async () => {
    const pv = randomArray(new Rng(9), 10 * 4);
    const rv = randomArray(new Rng(10), 6 * 4);
    const { err } = await compareBackends(() => {
      const p = tf.tensor2d(pv, [10, 4]);
      const r = tf.tensor2d(rv, [6, 4]);
      const idx = tf.tensor1d([3, 3, 0, 9, 3, 5], 'int32');
      return tf.grad((q: tf.Tensor) => tf.sum(tf.mul(tf.gather(q, idx), r)))(p);
    });
    expect(err).toBeLessThan(1e-6);
  });
  it('rejects out-of-range ids naming the position, without leaking', async () => {
    await initBackend('wasm');
    const x = tf.ones([3, 2]);
    const ids = tf.tensor1d([0, 4, 1], 'int32');
    const before = wasmFootprint();
    expect(() => tf.unsortedSegmentSum(x, ids, 3)).toThrow(/segmentIds\[1\] = 4 is out of range for numSegments = 3/);
    expect(wasmFootprint()).toEqual(before);
    tf.dispose([x, ids]);
  });
  it('gives back every buffer', async () => {
    await initBackend('wasm');
    const x = tf.ones([50, 8]);
    const ids = tf.tensor1d(Array.from({ length: 50 }, (_, i) => i % 7), 'int32');
    const step = () => tf.unsortedSegmentSum(x, ids, 7).dispose();
    step();
    const before = wasmFootprint();
    for (let i = 0; i < 3; i++) step();
    expect(wasmFootprint()).toEqual(before);
    tf.dispose([x, ids]);
  });
});
