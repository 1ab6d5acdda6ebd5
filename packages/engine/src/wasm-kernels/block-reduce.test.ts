import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { MAX_POOL_CHANNELS, meanKernel, sumKernel } from './block-reduce.js';

describe('Sum and Mean over a run of non-innermost axes on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('replace the stock kernels', () => {
    expect(tf.getKernel('Sum', 'wasm')?.kernelFunc).toBe(sumKernel.kernelFunc);
    expect(tf.getKernel('Mean', 'wasm')?.kernelFunc).toBe(meanKernel.kernelFunc);
  });
  // Runs of axes before the last take the pooling path; the rest must still reach the stock kernel and agree too.
  const cases: [string, number[], number | number[], boolean][] = [
    ['NHWC per-channel', [6, 5, 7, 3], [0, 1, 2], false],
    ['NHWC per-channel, keepDims', [4, 3, 5, 8], [2, 0, 1], true],
    ['first axis of a matrix', [37, 5], 0, false],
    ['negative axes naming the leading ones', [3, 4, 6], [-3, -2], true],
    ['singleton leading axes', [1, 9, 1, 4], [0, 1, 2], false],
    ['inner axes (stock path)', [3, 4, 5], [1, 2], false],
    ['all axes (stock path)', [4, 5, 6], [0, 1, 2], false],
    ['middle axes (global average pooling)', [2, 6, 6, 3], [1, 2], true],
    ['a middle axis of rank 5', [2, 3, 4, 5, 2], 2, false],
    ['scattered axes (stock path)', [3, 4, 5, 2], [0, 2], false],
    ['one large run', [64, 40, 33, 3], [0, 1, 2], false],
    // XNNPACK's pooling scratch row lives on the 64 KB wasm stack: 20,000 channels ran off it (heap corruption).
    ['wider than the pooling limit (stock path)', [9, 20000], 0, false],
    ['at the pooling limit', [9, MAX_POOL_CHANNELS], 0, true],
  ];
  for (const [name, shape, axis, keepDims] of cases) {
    it(`match cpu: ${name}`, async () => {
      const xv = randomArray(new Rng(31), shape.reduce((a, b) => a * b));
      const { err, shapesMatch } = await compareBackends(() => {
        const x = tf.tensor(xv, shape);
        return [tf.sum(x, axis, keepDims), tf.mean(x, axis, keepDims)];
      });
      expect(shapesMatch).toBe(true);
      expect(err).toBeLessThan(1e-5);
    });
  }
  it('keep int32 sums exact (stock path)', async () => {
    await initBackend('wasm');
    const s = tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0);
    expect(s.dtype).toBe('int32');
    expect(Array.from(await s.data())).toEqual([9, 12]);
    s.dispose();
  });
  it('are the gradient of a broadcast add, and leak nothing', async () => {
    await initBackend('wasm');
    const x = tf.randomNormal([8, 6, 6, 4]);
    const b = tf.randomNormal([4]);
    const before = wasmFootprint();
    for (let i = 0; i < 3; i++) {
      const diff = tf.tidy(() => {
        const db = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.add(x, t), x)))(b);
        // d/db Σ(x+b)·x = Σx per channel; the reference reduces the innermost axis (stock path).
        const ref = tf.sum(tf.transpose(tf.reshape(x, [-1, 4])), 1);
        return tf.max(tf.abs(tf.sub(db, ref)));
      });
      expect(diff.dataSync()[0]).toBeLessThan(1e-4);
      diff.dispose();
    }
    expect(wasmFootprint()).toEqual(before);
    tf.dispose([x, b]);
  });
});
