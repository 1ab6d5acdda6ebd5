import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends } from './__fixtures__/compare.js';
import { initBackend } from './backend.js';
import { gelu } from './gelu.js';
import { tensorGrowthPerStep } from './memory.js';
import { tf } from './tf.js';

/** GELU and its derivative in float64, from erf by its Maclaurin series / continued fraction (no float32 erf). */
function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}
const gelu64 = (x: number) => 0.5 * x * (1 + erf64(x / Math.SQRT2));
const dgelu64 = (x: number) => 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp(-x * x / 2)) / Math.sqrt(2 * Math.PI);

describe('gelu', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('matches float64 GELU and its derivative, from the far negative tail to large positives', async () => {
    const rng = new Rng(4);
    const xs = Float32Array.from([...Array.from({ length: 200 }, () => rng.normal() * 3), -12, -6, -1e-4, 0, 1e-4, 6, 12]);
    const w = Float32Array.from(xs, () => rng.normal());
    const x = tf.tensor1d(xs);
    const wt = tf.tensor1d(w);
    const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), wt)))([x]);
    const y = gelu(x);
    const yv = await y.data();
    const gv = await grads[0]!.data();
    let worstY = 0;
    let worstG = 0;
    for (let i = 0; i < xs.length; i++) {
      worstY = Math.max(worstY, Math.abs(yv[i]! - gelu64(xs[i]!)) / (1 + Math.abs(gelu64(xs[i]!))));
      worstG = Math.max(worstG, Math.abs(gv[i]! - w[i]! * dgelu64(xs[i]!)) / (1 + Math.abs(w[i]!)));
    }
    expect(worstY).toBeLessThan(1e-6);
    expect(worstG).toBeLessThan(1e-6);
    tf.dispose([x, wt, value, y, ...grads]);
  });

  it('gives the same values and gradients on wasm (SIMD on the heap) and cpu (composed ops), odd sizes included', async () => {
    for (const size of [1, 7, 8, 1003]) {
      const xs = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 1.7) * 5);
      const { err, shapesMatch } = await compareBackends(() => {
        const x = tf.tensor1d(xs);
        return [gelu(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), t)))(x)];
      });
      expect(shapesMatch).toBe(true);
      expect(err, `size ${size}`).toBeLessThan(2e-6);
    }
  });

  it('holds a quarter of the memory autograd through the formula holds between forward and backward', () => {
    const x = tf.randomNormal([64, 256]);
    const composed = (t: tf.Tensor) => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.mul(t, Math.SQRT1_2))));
    const heldDuringForward = (f: (t: tf.Tensor) => tf.Tensor) => {
      let held = 0;
      tf.grad((t: tf.Tensor) => {
        const before = tf.memory().numBytes;
        const out = tf.sum(f(t));
        held = (tf.memory().numBytes - before) / (64 * 256 * 4);
        return out;
      })(x).dispose();
      return held;
    };
    // output + sum, plus what the tape holds
    // In units of x's size, measured: 3 (tfjs's customGrad bookkeeping around the output and the saved input)
    // against 12 for autograd through the formula.
    expect(heldDuringForward(gelu)).toBeLessThan(3.5);
    expect(heldDuringForward(composed)).toBeGreaterThan(8);
    x.dispose();
  });

  it('leaks no tensor per training step', async () => {
    const x = tf.randomNormal([8, 32]);
    const growth = await tensorGrowthPerStep(() => {
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x);
      });
    });
    expect(growth).toBe(0);
    x.dispose();
  });
});
