import { HierError } from '@hier-ts/core';
import { initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accurateNorm,
  artanh,
  distMatrix,
  distToOrigin,
  expmap0,
  logmap0,
  mobiusAdd,
  project,
  riemannianGradient,
  safeNorm,
  toPoincare,
} from './index.js';

// Appendix A of the spec (float64 re-derivation; torch fp32 agrees to ~1e-6).
const U = [
  [3, 4, 0, 0],
  [0.5, -0.25, 1, 0],
  [0, 0, 0, 0],
  [0.001, 0, 0, 0.002],
];
const Z = [
  [1.17907007, 1.57209343, 0, 0],
  [0.479215508, -0.239607754, 0.958431016, 0],
  [0, 0, 0, 0],
  [9.99999833e-4, 0, 0, 1.99999967e-3],
];
const D = [
  [0, 5.26561873, 4.59992677, 4.59873006],
  [5.26561873, 0, 2.29126288, 2.29039492],
  [4.59992677, 2.29126288, 0, 0.00447209],
  [4.59873006, 2.29039492, 0.00447209, 0],
];
const HIER = { c: 0.1, clipR: 2.3, riemannian: true };

function expectClose(actual: ArrayLike<number>, expected: number[], atol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `index ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(atol);
  }
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('toPoincare and the maps (Appendix A)', () => {
  it('clips, maps and projects to the worked values', async () => {
    const z = toPoincare(tf.tensor2d(U), HIER);
    expectClose(await z.data(), Z.flat(), 2e-6);
    const n = await safeNorm(z).data();
    expect(n[0]).toBeCloseTo(1.96511679, 5);
    expect(n[1]).toBeCloseTo(1.09802067, 5);
  });

  it('rescales the backward pass by (1 − c‖y‖²)²/4 when riemannian', async () => {
    const x = tf.tensor2d(U);
    const gR = await tf.grad((t: tf.Tensor) => tf.sum(tf.mul(toPoincare(t, HIER), 1)))(x).data();
    const gE = await tf.grad((t: tf.Tensor) => tf.sum(toPoincare(t, { ...HIER, riemannian: false })))(x).data();
    const factors = [0.0941973, 0.1933515, 0.25, 0.2499998];
    for (let r = 0; r < 4; r++) {
      for (let j = 0; j < 4; j++) expect(gR[r * 4 + j]).toBeCloseTo(gE[r * 4 + j] * factors[r], 5);
    }
    // the zero row has a finite (zero-norm) gradient, never NaN
    expect(Array.from(gE).every(Number.isFinite)).toBe(true);
  });

  it('riemannianGradient is the identity forward', async () => {
    const y = tf.tensor2d(Z);
    expectClose(await riemannianGradient(y, 0.1).data(), Z.flat().map(Math.fround), 0);
  });

  it('logmap0 inverts expmap0 after clipping', async () => {
    const l = await logmap0(tf.tensor2d(Z), 0.1).data();
    const want = [...U[0].map((v) => (2.2999954 * v) / 5), ...U[1], 0, 0, 0, 0, ...U[3]];
    expectClose(l, want, 5e-5);
    const e = await expmap0(tf.tensor2d([U[1]]), 0.1).data();
    expectClose(e, Z[1], 2e-6);
  });

  it('project rescales only rows beyond (1 − 1e−3)/√c', async () => {
    const p = await project(tf.tensor2d([[10, 0], [1, 1]]), 0.1).data();
    expectClose(p, [(1 - 1e-3) / Math.sqrt(0.1), 0, 1, 1], 1e-6);
  });
});

describe('distances', () => {
  it('distMatrix matches the Appendix A table (row point negated, +1e−5 denominator)', async () => {
    const z = tf.tensor2d(Z);
    expectClose(await distMatrix(z, z, 0.1).data(), D.flat(), 3e-5);
    // the +1e−5 matters: the exact d(0, z1) is 4.59999080
    const d0 = await distMatrix(tf.tensor2d([Z[2]]), tf.tensor2d([Z[0]]), 0.1).data();
    expect(Math.abs(d0[0] - 4.59992677)).toBeLessThan(Math.abs(d0[0] - 4.5999908) + 1e-9);
  });

  it('distMatrix never materialises n×m×d (1500×1500×1024 floats would exceed the 4 GB wasm heap)', async () => {
    const x = tf.mul(tf.randomUniform([1500, 1024], -1, 1, 'float32', 8), 0.05) as tf.Tensor2D;
    const d = distMatrix(x, x, 0.1);
    expect(d.shape).toEqual([1500, 1500]);
    const v = await d.data();
    expect(v[0]).toBe(0);
    expect(Number.isFinite(v[1])).toBe(true);
    tf.dispose([x, d]);
  });

  it('distToOrigin uses the exact form', async () => {
    expectClose(await distToOrigin(tf.tensor2d(Z), 0.1).data(), [4.5999908, 2.29128784, 0, 0.00447214], 3e-5);
  });

  it('distMatrix equals the Möbius form on random points, with finite self-gradients', async () => {
    const x = tf.mul(tf.randomUniform([7, 5], -1, 1, 'float32', 3), 0.8);
    const y = tf.mul(tf.randomUniform([6, 5], -1, 1, 'float32', 4), 0.8);
    const viaMobius = tf.tidy(() => {
      const rows: tf.Tensor[] = [];
      for (let i = 0; i < 7; i++) {
        const xi = tf.tile(tf.slice(x, [i, 0], [1, 5]), [6, 1]);
        const m = mobiusAdd(tf.neg(xi), y, 0.1);
        rows.push(tf.mul(artanh(tf.mul(safeNorm(m), Math.sqrt(0.1))), 2 / Math.sqrt(0.1)).reshape([1, 6]));
      }
      return tf.concat(rows, 0);
    });
    expectClose(await distMatrix(x as tf.Tensor2D, y as tf.Tensor2D, 0.1).data(), Array.from(await viaMobius.data()), 2e-5);
    const g = await tf.grad((t: tf.Tensor) => tf.sum(distMatrix(t as tf.Tensor2D, t as tf.Tensor2D, 0.1)))(x).data();
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
  });

  it('artanh clamps at ±(1 − 1e−5) and passes its gradient through the clamp', async () => {
    const t = tf.tensor1d([0.5, 1.5, -2]);
    const v = await artanh(t).data();
    expect(v[0]).toBeCloseTo(Math.atanh(0.5), 6);
    expect(v[1]).toBeCloseTo(Math.atanh(Math.fround(1 - 1e-5)), 2);
    const g = await tf.grad((x: tf.Tensor) => tf.sum(artanh(x)))(t).data();
    const bound = Math.fround(1 - 1e-5);
    expect(g[0]).toBeCloseTo(1 / (1 - 0.25), 5);
    expect(g[1] / (1 / (1 - bound * bound))).toBeCloseTo(1, 3);
    expect(g[2]).toBeGreaterThan(1e4);
  });

  it('safeNorm has zero gradient at the zero vector; accurateNorm is exact-ish', async () => {
    const g = await tf.grad((x: tf.Tensor) => tf.sum(safeNorm(x)))(tf.zeros([2, 3])).data();
    expect(Array.from(g)).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await accurateNorm(tf.tensor2d([[3, 4, 0]])).data())[0]).toBe(5);
  });
});

describe('validation and memory', () => {
  it('rejects bad curvature, ranks and widths with HierError naming the argument', () => {
    const x = tf.zeros([3, 4]) as tf.Tensor2D;
    expect(() => distMatrix(x, tf.zeros([2, 5]) as tf.Tensor2D, 0.1)).toThrow(/'x' and 'y'.*\[3, 4\].*\[2, 5\]/);
    expect(() => distMatrix(tf.zeros([4]) as unknown as tf.Tensor2D, x, 0.1)).toThrow(HierError);
    expect(() => expmap0(x, 0)).toThrow(/curvature c must be/);
    expect(() => toPoincare(x, { c: -1 })).toThrow(HierError);
    expect(() => toPoincare(x, { c: 0.1, clipR: 0 })).toThrow(/clipR/);
    expect(() => mobiusAdd(x, tf.zeros([3, 5]), 0.1)).toThrow(/same last-axis width/);
  });

  it('leaks no tensors across a forward + backward step', async () => {
    const x = tf.randomNormal([16, 8], 0, 1, 'float32', 1);
    const growth = await tensorGrowthPerStep(async () => {
      const g = tf.grad((t: tf.Tensor) => {
        const z = toPoincare(t, HIER) as tf.Tensor2D;
        return tf.sum(distMatrix(z, z, 0.1));
      })(x);
      await g.data();
      g.dispose();
    });
    expect(growth).toBe(0);
  });
});
