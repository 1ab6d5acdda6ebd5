import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import type { ConvGeometry } from './conv-gemm.js';
import { type ConvWinogradMode, type ConvWinogradTile, convWinogradTileFor, preferConvWinograd, setConvWinograd, setConvWinogradTile } from './conv-winograd.js';

/** Forward, input gradient and filter gradient of a 3×3/1 same convolution (loss Σ y·r for a fixed r). */
function convAndGrads(xShape: [number, number, number, number], co: number, seed: number, pad: 'same' | 1 = 'same') {
  const rng = new Rng(seed);
  const xv = randomArray(rng, xShape.reduce((a, b) => a * b));
  const fv = randomArray(rng, 9 * xShape[3] * co);
  const rv = randomArray(rng, xShape[0] * xShape[1] * xShape[2] * co);
  return () => {
    const x = tf.tensor4d(xv, xShape);
    const f = tf.tensor4d(fv, [3, 3, xShape[3], co]);
    const r = tf.tensor4d(rv, [xShape[0], xShape[1], xShape[2], co]);
    const y = tf.conv2d(x, f, 1, pad);
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad), r)))([x, f]);
    return [y, dx!, df!];
  };
}

async function withMode<T>(mode: ConvWinogradMode, fn: () => Promise<T>, tile: ConvWinogradTile = 'auto'): Promise<T> {
  const prev = setConvWinograd(mode);
  const prevTile = setConvWinogradTile(tile);
  try {
    return await fn();
  } finally {
    setConvWinograd(prev);
    setConvWinogradTile(prevTile);
  }
}

describe('Winograd F(2×2, 3×3) and F(4×4, 3×3) convolutions (wasm)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  const cases: { name: string; x: [number, number, number, number]; co: number; pad?: 1 }[] = [
    { name: 'even map', x: [2, 6, 6, 8], co: 12 },
    { name: 'odd, rectangular map (partial tiles)', x: [3, 7, 5, 4], co: 8 },
    { name: 'one-pixel map', x: [2, 1, 1, 4], co: 4 },
    { name: 'tiles not a multiple of the GEMM rows, co not a multiple of its columns', x: [1, 5, 3, 16], co: 20 },
    { name: 'numeric pad 1 (the input gradient path asks this way)', x: [2, 4, 6, 8], co: 4, pad: 1 },
    { name: 'ResNet-sized channels', x: [2, 8, 8, 64], co: 64 },
  ];
  for (const tile of [2, 4] as const)
    for (const c of cases) {
      it(`F(${tile}×${tile}, 3×3): forward, input and filter gradients match the cpu backend: ${c.name}`, async () => {
        const result = await withMode('always', () => compareBackends(convAndGrads(c.x, c.co, 7, c.pad ?? 'same')), tile);
        expect(result.shapesMatch).toBe(true);
        // F(4×4)'s transforms hold coefficients up to 8 and 1/24: a few times F(2×2)'s rounding, still ~1e-6.
        expect(result.err).toBeLessThan(2e-5);
      });
    }

  it('takes exactly the convolutions it can do: 3×3, stride 1, same padding, channels in fours; in auto mode only wide ones with enough tiles', async () => {
    const conv = (n: number, hw: number, ci: number, co: number, over: Partial<ConvGeometry> = {}): ConvGeometry => ({
      n, h: hw, w: hw, ci, kh: 3, kw: 3, co, oh: hw, ow: hw, sh: 1, sw: 1, top: 1, left: 1, ...over,
    });
    await withMode('auto', async () => {
      expect(preferConvWinograd(conv(32, 16, 64, 64))).toBe(true); // ResNet-18@64 layer1
      expect(preferConvWinograd(conv(8, 7, 512, 512))).toBe(true); // ResNet-50@224 layer4 (odd map)
      expect(preferConvWinograd(conv(32, 2, 512, 512))).toBe(true); // 32 tiles
      expect(preferConvWinograd(conv(8, 2, 512, 512))).toBe(false); // 8 tiles: the filter side dominates
      expect(preferConvWinograd(conv(32, 16, 16, 64))).toBe(false); // narrow input
      expect(preferConvWinograd(conv(8, 28, 128, 128, { sh: 2, sw: 2, oh: 14, ow: 14 }))).toBe(false); // strided
      expect(preferConvWinograd(conv(8, 28, 128, 128, { top: 0, left: 0, oh: 26, ow: 26 }))).toBe(false); // valid
      expect(preferConvWinograd(conv(8, 28, 128, 128, { kh: 1, kw: 1, top: 0, left: 0 }))).toBe(false); // 1×1
    });
    await withMode('always', async () => {
      expect(preferConvWinograd(conv(1, 4, 4, 8))).toBe(true);
      expect(preferConvWinograd(conv(1, 4, 3, 8))).toBe(false); // channels not in fours
    });
    await withMode('off', async () => {
      expect(preferConvWinograd(conv(32, 16, 64, 64))).toBe(false);
    });
  });

  it('gives back every tensor and wasm buffer it allocates, and leaves its inputs intact', async () => {
    await withMode('always', async () => {
      const rng = new Rng(3);
      const x = tf.tensor4d(randomArray(rng, 2 * 5 * 5 * 8), [2, 5, 5, 8]);
      const f = tf.tensor4d(randomArray(rng, 3 * 3 * 8 * 12), [3, 3, 8, 12]);
      const xBefore = await x.data();
      const fBefore = await f.data();
      const step = () => {
        const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))))([x, f]);
        tf.dispose([dx!, df!]);
      };
      step();
      const before = wasmFootprint();
      for (let i = 0; i < 3; i++) step();
      expect(wasmFootprint()).toEqual(before);
      expect(Array.from(await x.data())).toEqual(Array.from(xBefore));
      expect(Array.from(await f.data())).toEqual(Array.from(fBefore));
      tf.dispose([x, f]);
    });
  });

  it('picks 4×4 tiles where there are enough of them (≥ 128), 2×2 below, none under 32 tiles', async () => {
    const conv = (n: number, hw: number, c: number): ConvGeometry => ({ n, h: hw, w: hw, ci: c, kh: 3, kw: 3, co: c, oh: hw, ow: hw, sh: 1, sw: 1, top: 1, left: 1 });
    await withMode('auto', async () => {
      expect(convWinogradTileFor(conv(32, 16, 64))).toBe(4); // ResNet-18@64 layer1: 512 4×4 tiles
      expect(convWinogradTileFor(conv(32, 8, 128))).toBe(4); // layer2: 128
      expect(convWinogradTileFor(conv(32, 4, 256))).toBe(2); // layer3: 32 4×4 tiles, 128 2×2 ones
      expect(convWinogradTileFor(conv(8, 14, 256))).toBe(4); // ResNet-50@224 layer3: 128
      expect(convWinogradTileFor(conv(8, 7, 512))).toBe(2); // layer4
      expect(convWinogradTileFor(conv(8, 2, 512))).toBe(0); // 8 tiles: direct
      expect(convWinogradTileFor(conv(32, 16, 64), true)).toBe(4);
    });
    await withMode('auto', async () => expect(convWinogradTileFor(conv(32, 16, 64))).toBe(2), 2);
    await withMode('always', async () => expect(convWinogradTileFor(conv(1, 3, 8))).toBe(4), 4);
  });

  it('agrees with the direct kernels on a ResNet-18 layer1 shape to float32 rounding, both tile sizes', async () => {
    for (const tile of [2, 4] as const) {
    const run = async (mode: ConvWinogradMode) =>
      withMode(mode, async () => {
        const outs = tf.tidy(convAndGrads([4, 16, 16, 64], 64, 9));
        const values = await Promise.all(outs.map((t) => t.data()));
        tf.dispose(outs);
        return values as Float32Array[];
      }, tile);
    const wino = await run('always');
    const direct = await run('off');
    for (let i = 0; i < 3; i++) {
      let diff = 0;
      let scale = 0;
      for (let j = 0; j < direct[i]!.length; j++) {
        diff = Math.max(diff, Math.abs(wino[i]![j]! - direct[i]![j]!));
        scale = Math.max(scale, Math.abs(direct[i]![j]!));
      }
      expect(diff / scale).toBeLessThan(1e-5);
    }
    }
  });
});
