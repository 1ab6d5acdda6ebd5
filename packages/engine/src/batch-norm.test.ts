import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomArray, relErr } from './__fixtures__/compare.js';
import { initBackend } from './backend.js';
import { batchNormTrain } from './batch-norm.js';
import { tensorGrowthPerStep } from './memory.js';
import { tf } from './tf.js';

/** The plain tfjs formulation the custom op replaces. */
function plainBatchNorm(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor {
  const axes = [...Array(x.rank - 1).keys()];
  const { mean, variance } = tf.moments(x, axes);
  return tf.batchNorm(x, mean, variance, b, g, eps);
}

async function valueAndGrads(
  bn: (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor,
  xs: number[],
  offset: number,
): Promise<Float32Array[]> {
  const rng = new Rng(21);
  const n = xs.reduce((a, b) => a * b);
  const c = xs[xs.length - 1] as number;
  const x = tf.add(tf.tensor(randomArray(rng, n), xs), offset);
  const g = tf.tensor1d(randomArray(rng, c));
  const b = tf.tensor1d(randomArray(rng, c));
  const r = tf.tensor(randomArray(rng, n), xs);
  const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.square(bn(xi, gi as tf.Tensor1D, bi as tf.Tensor1D)), r));
  const { value, grads } = tf.valueAndGrads(f)([x, g, b]);
  const y = tf.tidy(() => bn(x, g, b));
  const out = [y, value, ...grads];
  const arrays: Float32Array[] = [];
  for (const t of out) arrays.push(Float32Array.from(await t.data()));
  tf.dispose([x, g, b, r, ...out]);
  return arrays;
}

describe('batchNormTrain', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  const cases: [string, number[], number][] = [
    ['NHWC', [4, 5, 5, 3], 0],
    ['[N, C]', [6, 4], 0],
    ['large mean (cancellation)', [3, 4, 4, 5], 50],
  ];
  for (const [name, shape, offset] of cases) {
    it(`matches the plain tfjs formulation in value and gradients: ${name}`, async () => {
      const ref = await valueAndGrads((x, g, b) => plainBatchNorm(x, g, b, 1e-5), shape, offset);
      const got = await valueAndGrads((x, g, b) => batchNormTrain(x, g, b, 1e-5).y, shape, offset);
      const labels = ['y', 'loss', 'dx', 'dgamma', 'dbeta'];
      for (let i = 0; i < ref.length; i++) expect(relErr(ref[i]!, got[i]!), labels[i]).toBeLessThan(1e-4);
    });
  }
  it('returns the batch statistics, disposed by the caller tidy', async () => {
    const x = tf.tensor2d([1, 10, 3, 20, 5, 30], [3, 2]);
    const g = tf.ones([2]) as tf.Tensor1D;
    const b = tf.zeros([2]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const [mean, variance] = tf.tidy(() => {
      const r = batchNormTrain(x, g, b);
      expect(r.count).toBe(3);
      return [r.mean, r.variance];
    });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(await mean!.data())).toEqual([3, 20]);
    const v = await variance!.data();
    expect(v[0]).toBeCloseTo(8 / 3, 5);
    expect(v[1]).toBeCloseTo(200 / 3, 4);
    tf.dispose([x, g, b, mean!, variance!]);
  });
  it('names the shapes when gamma does not match the channels', () => {
    const x = tf.zeros([2, 3]);
    const g = tf.zeros([4]) as tf.Tensor1D;
    expect(() => batchNormTrain(x, g, g)).toThrow(/x \[2,3\], gamma \[4\]/);
    tf.dispose([x, g]);
  });
  it('does not leak under gradients or without them', async () => {
    const x = tf.randomUniform([2, 4, 4, 3]);
    const g = tf.variable(tf.ones([3]));
    const b = tf.variable(tf.zeros([3]));
    const growth = await tensorGrowthPerStep(() => {
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => {
          const r = batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D);
          return tf.sum(tf.mul(r.y, r.y)) as tf.Scalar;
        }),
      );
      tf.dispose([value, ...Object.values(grads)]);
      tf.tidy(() => {
        batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D);
      });
    });
    expect(growth).toBe(0);
    tf.dispose([x, g, b]);
  });
});
