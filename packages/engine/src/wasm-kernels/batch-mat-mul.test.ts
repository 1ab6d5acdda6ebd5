import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { batchMatMulKernel, disableSimdMatMul, SIMD_MIN_WORK } from './batch-mat-mul.js';

// [a shape, b shape, transposeA, transposeB]; some pick the direct path, some the swapped (Bᵀ·Aᵀ)ᵀ one.
const CASES: [number[], number[], boolean, boolean][] = [
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[7, 5], [3, 7], true, true],
  [[200, 16], [200, 8], true, false], // tall Xᵀ·dY: swapped
  [[2, 10], [500, 10], false, true], // small A, big B: swapped
  [[300, 4], [5, 4], false, true], // big A: direct
  [[3, 6, 4], [3, 6, 5], true, false],
  [[3, 4, 6], [3, 5, 6], false, true],
  [[3, 6, 4], [3, 5, 6], true, true],
  [[2, 3, 4, 6], [2, 3, 5, 6], false, true],
  [[3, 6, 4], [1, 6, 5], true, false],
  [[4, 7, 6], [6, 5], false, false], // shared B: folded into one tall product
  [[2, 3, 7, 6], [1, 6, 5], false, false],
  [[4, 6, 7], [5, 6], true, true],
  [[1, 4, 6], [3, 5, 6], false, true],
  // Big enough per product (m·k·n ≥ 2^14) to run as one 2-D product per batch entry.
  [[5, 33, 24], [5, 24, 21], false, false],
  [[4, 3, 33, 24], [4, 3, 21, 24], false, true],
  [[3, 130, 64], [3, 64, 130], false, false],
  [[2, 2, 130, 64], [2, 2, 130, 64], false, true],
  [[3, 64, 130], [3, 64, 130], true, false],
  // FMA GEMM sizes (batch·m·k·n ≥ SIMD_MIN_WORK), every transpose, folded, shared-A and ragged edges.
  [[67, 45], [45, 29], false, false],
  [[45, 67], [45, 29], true, false],
  [[67, 45], [29, 45], false, true],
  [[45, 67], [29, 45], true, true],
  [[3, 21, 37], [37, 19], false, false],
  [[3, 37, 21], [19, 37], true, true],
  [[37, 21], [3, 37, 19], true, false],
  [[2, 3, 21, 37], [2, 3, 19, 37], false, true],
  [[1, 130, 7], [7, 70], false, false],
  // Long products (k > 1024) run in k blocks of 512 that accumulate into C: every transpose, a ragged last block,
  // a batch, a shared B, and a k of exactly two blocks.
  [[2600, 20], [2600, 14], true, false],
  [[20, 2600], [2600, 14], false, false],
  [[20, 2600], [14, 2600], false, true],
  [[2600, 20], [14, 2600], true, true],
  [[2, 1500, 9], [2, 1500, 13], true, false],
  [[2, 7, 1100], [1100, 13], false, false],
  [[30, 1024 + 1], [1025, 8], false, false],
  [[1024 * 2, 5], [2048, 6], true, false],
];

describe('BatchMatMul with transposes on wasm matches the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('is the hier-ts kernel on wasm', () => {
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc).toBe(batchMatMulKernel.kernelFunc);
  });
  for (const [as, bs, tA, tB] of CASES) {
    it(`[${as}]${tA ? 'ᵀ' : ''} · [${bs}]${tB ? 'ᵀ' : ''}`, async () => {
      const rng = new Rng(3);
      const av = randomArray(rng, as.reduce((x, y) => x * y));
      const bv = randomArray(rng, bs.reduce((x, y) => x * y));
      const { err, shapesMatch } = await compareBackends(() => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), tA, tB));
      expect(shapesMatch).toBe(true);
      expect(err).toBeLessThan(1e-5);
    });
  }
  it('the FMA GEMM and XNNPACK agree on a big product (both paths really run)', async () => {
    const rng = new Rng(5);
    const a = tf.tensor(randomArray(rng, 2 * 70 * 90), [2, 70, 90]);
    const b = tf.tensor(randomArray(rng, 2 * 90 * 50), [2, 90, 50]);
    expect(2 * 70 * 90 * 50).toBeGreaterThanOrEqual(SIMD_MIN_WORK);
    const viaSimd = await tf.matMul(a, b).data();
    disableSimdMatMul(true);
    try {
      const viaXnn = await tf.matMul(a, b).data();
      let worst = 0;
      let differ = 0;
      for (let i = 0; i < viaSimd.length; i++) {
        worst = Math.max(worst, Math.abs(viaSimd[i]! - viaXnn[i]!));
        if (viaSimd[i] !== viaXnn[i]) differ++;
      }
      expect(worst).toBeLessThan(1e-4);
      // FMA rounds once per step, XNNPACK twice: bit-identical results everywhere would mean one path was skipped.
      expect(differ).toBeGreaterThan(0);
    } finally {
      disableSimdMatMul(false);
      tf.dispose([a, b]);
    }
  });

  it('gives back every tensor and wasm buffer on both paths', async () => {
    await initBackend('wasm');
    const a = tf.randomUniform([200, 16]);
    const b = tf.randomUniform([200, 8]);
    const c = tf.randomUniform([8, 16]);
    const big = tf.randomUniform([3, 130, 64]);
    const w = tf.randomUniform([64, 8]);
    const step = () => {
      tf.dispose([tf.matMul(a, b, true, false), tf.matMul(b, c, false, false), tf.matMul(a, c, false, true), tf.matMul(c, b, true, true)]);
      tf.dispose([tf.matMul(big, big, false, true), tf.matMul(big, big, true, false), tf.matMul(big, w)]);
      tf.dispose(
        tf.tidy(() => {
          const flat = tf.reshape(big, [390, 64]);
          return [tf.matMul(flat, w), tf.matMul(w, flat, true, true)];
        }),
      );
    };
    step();
    const before = wasmFootprint();
    for (let i = 0; i < 3; i++) step();
    expect(wasmFootprint()).toEqual(before);
    tf.dispose([a, b, c, big, w]);
  });
});
