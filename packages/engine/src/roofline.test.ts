import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { countFlops, measureFmaPeak, rooflineFigures } from './roofline.js';
import { tf } from './tf.js';

describe('countFlops', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('counts a matrix product as 2·m·k·n, transposes and batches included', async () => {
    const a = tf.ones([3, 5, 7]);
    const b = tf.ones([3, 11, 7]);
    const { result, flops, byKernel } = await countFlops(() => tf.matMul(a, b, false, true));
    expect(result.shape).toEqual([3, 5, 11]);
    expect(flops).toBe(2 * 3 * 5 * 7 * 11);
    expect(byKernel).toEqual({ BatchMatMul: flops });
    tf.dispose([a, b, result]);
  });

  it('counts a convolution step (forward, input and filter gradients) once each, not the products our kernels run inside', async () => {
    // 6×6 output map with 16 channels: our wasm Conv2D runs it as a patch GEMM, i.e. a nested BatchMatMul.
    const x = tf.randomNormal([2, 12, 12, 8]);
    const w = tf.randomNormal([3, 3, 8, 16]);
    const { result, flops, byKernel } = await countFlops(() => {
      const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 'same')));
      return g([x, w]);
    });
    const mac = 2 * 6 * 6 * 16 * (3 * 3 * 8);
    expect(byKernel).toEqual({ Conv2D: 2 * mac, Conv2DBackpropInput: 2 * mac, Conv2DBackpropFilter: 2 * mac });
    expect(flops).toBe(6 * mac);
    tf.dispose([x, w, ...result]);
  });

  it('restores the engine afterwards, also when the function throws', async () => {
    const before = (tf.engine() as unknown as { runKernel: unknown }).runKernel;
    await expect(
      countFlops(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((tf.engine() as unknown as { runKernel: unknown }).runKernel).toBe(before);
    const a = tf.ones([4, 4]);
    const { flops } = await countFlops(() => tf.dispose(tf.matMul(a, a)));
    expect(flops).toBe(2 * 4 * 4 * 4);
    a.dispose();
  });
});

describe('measureFmaPeak', () => {
  it('measures a positive, finite multiply-add rate per thread', async () => {
    const peak = await measureFmaPeak({ threads: 1, seconds: 0.05 });
    expect(peak.threads).toBe(1);
    expect(peak.perThread).toHaveLength(1);
    // Any CPU with wasm SIMD multiply-adds faster than 1 GFLOP/s; a broken loop (0 iterations) would be Infinity.
    expect(peak.gflops).toBeGreaterThan(1);
    expect(Number.isFinite(peak.gflops)).toBe(true);
  });
});

describe('rooflineFigures', () => {
  it('puts a step against the peak, and its target when given', () => {
    expect(rooflineFigures({ gflopPerImage: 2, imagesPerSecond: 10, peakGflops: 80 })).toEqual({ gflopPerImage: 2, achievedGflops: 20, fmaPeakGflops: 80, achievedFractionOfPeak: 0.25 });
    const f = rooflineFigures({ gflopPerImage: 27.36, imagesPerSecond: 2.3, peakGflops: 92.4, targetImagesPerSecond: 3.4 });
    expect(f.achievedGflops).toBe(62.9);
    expect(f.targetGflops).toBe(93);
    expect(f.targetFractionOfPeak).toBe(1.007);
    expect(f.targetImagesPerSecond).toBe(3.4);
  });
});
