import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, relErr, runOn, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { maxPoolGradKernel } from './max-pool-grad.js';

/** dx of sum(maxPool(x) · r): exercises MaxPoolGrad through autograd, as training does. */
function poolGrad(xv: Float32Array, shape: number[], f: number | [number, number], s: number | [number, number], pad: 'valid' | 'same' | number, seed: number) {
  return () => {
    const x = tf.tensor4d(xv, shape as [number, number, number, number]);
    return tf.grad((t: tf.Tensor) => {
      const y = tf.maxPool(t as tf.Tensor4D, f, s, pad);
      return tf.sum(tf.mul(y, tf.tensor(randomArray(new Rng(seed), y.size), y.shape)));
    })(x);
  };
}

describe('MaxPoolGrad on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('replaces the stock kernel', () => {
    expect(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc).toBe(maxPoolGradKernel.kernelFunc);
  });
  const cases: [string, number[], number | [number, number], number | [number, number], 'valid' | 'same' | number][] = [
    ['2×2/2 valid, even sizes', [3, 8, 6, 5], 2, 2, 'valid'],
    ['2×2/2 valid, odd sizes (last row and column get nothing)', [2, 7, 9, 3], 2, 2, 'valid'],
    ['2×2/2 same, odd sizes (clipped edge windows)', [2, 7, 5, 4], 2, 2, 'same'],
    ['3×3/2 same, overlapping windows add up', [2, 9, 8, 3], 3, 2, 'same'],
    ['3×3/1 numeric pad 1', [1, 6, 7, 2], 3, 1, 1],
    ['2×3/[1,2] valid, rectangular', [2, 6, 9, 3], [2, 3], [1, 2], 'valid'],
    ['1 channel, cnn4-like', [4, 28, 28, 1], 2, 2, 'valid'],
    // Channels in fours take the wasm SIMD loop (max-pool-grad-heap.ts).
    ['3×3/2 same, 8 channels', [2, 9, 8, 8], 3, 2, 'same'],
    ['2×2/2 valid, odd sizes, 4 channels', [2, 7, 9, 4], 2, 2, 'valid'],
    ['3×3/1 numeric pad 1, 12 channels', [1, 6, 7, 12], 3, 1, 1],
    ['2×3/[1,2] valid, rectangular, 8 channels', [2, 6, 9, 8], [2, 3], [1, 2], 'valid'],
    ['ResNet stem pool 3×3/2 pad 1, 64 channels', [2, 16, 16, 64], 3, 2, 1],
  ];
  for (const [name, shape, f, s, pad] of cases) {
    it(`matches cpu: ${name}`, async () => {
      const xv = randomArray(new Rng(11), shape.reduce((a, b) => a * b));
      const { err, shapesMatch } = await compareBackends(poolGrad(xv, shape, f, s, pad, 12));
      expect(shapesMatch).toBe(true);
      expect(err).toBeLessThan(1e-6);
    });
  }
  it('breaks ties like cpu (first maximum in row-major order), also with −∞ and NaN', async () => {
    // Values on a coarse grid, so most windows hold ties; a few windows are all −∞ or contain NaN.
    // Width 8 takes the exact-tiling 2×2 path, width 7 the general one; 4 channels the wasm SIMD loop.
    for (const [width, ch] of [
      [7, 3],
      [8, 3],
      [7, 4],
      [8, 4],
    ] as const) {
      const shape = [2, 6, width, ch];
      const rng = new Rng(21);
      const xv = Float32Array.from({ length: 2 * 6 * width * ch }, () => Math.floor(rng.uniform(0, 3)));
      xv[0] = Number.NaN;
      for (const i of [0, ch, ch * width, ch * width + ch]) xv[i + 1] = Number.NEGATIVE_INFINITY; // one 2×2 window of channel 1, all −∞
      xv[width * ch * 2 + 5] = Number.NaN;
      for (const [f, s, pad] of [
        [2, 2, 'valid'],
        [3, 2, 'same'],
        [3, 1, 'valid'],
      ] as const) {
        const ref = await runOn('cpu', poolGrad(xv, shape, f, s, pad, 22));
        const got = await runOn('wasm', poolGrad(xv, shape, f, s, pad, 22));
        // Disjoint windows must agree bit for bit; where windows overlap, cpu sums the shares in float64 and we in
        // float32, so allow rounding (a wrong tie-break would be off by a whole dy entry, ~0.1–1).
        if (f === s) expect(Array.from(got[0]!.values)).toEqual(Array.from(ref[0]!.values));
        else expect(relErr(ref[0]!.values, got[0]!.values)).toBeLessThan(1e-6);
      }
    }
  });
  it('rejects a dy of the wrong shape, and leaks nothing', async () => {
    await initBackend('wasm');
    const x = tf.randomNormal([2, 6, 6, 3]);
    const before = wasmFootprint();
    for (let i = 0; i < 3; i++) {
      tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x));
    }
    const bad = tf.zeros([2, 2, 3, 3]);
    expect(() => tf.engine().runKernel('MaxPoolGrad', { dy: bad, input: x, output: bad }, { filterSize: 2, strides: 2, pad: 'valid' })).toThrow(/dy is \[2,2,3,3\]/);
    bad.dispose();
    expect(wasmFootprint()).toEqual(before);
    x.dispose();
  });
});
