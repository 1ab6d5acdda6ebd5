import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomArray, relErr } from './__fixtures__/compare.js';
import { initBackend } from './backend.js';
import { layerNorm } from './layer-norm.js';
import { tensorGrowthPerStep } from './memory.js';
import { tf } from './tf.js';

/** The plain tfjs formulation (moments over the last axis). */
function plainLayerNorm(x: tf.Tensor, eps: number, g?: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, x.rank - 1, true);
  let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  if (g) y = tf.mul(y, g);
  if (b) y = tf.add(y, b);
  return y;
}

async function valueAndGrads(ln: typeof plainLayerNorm, shape: number[], offset: number, affine: boolean): Promise<Float32Array[]> {
  const rng = new Rng(8);
  const size = shape.reduce((a, b) => a * b);
  const d = shape[shape.length - 1] as number;
  const x = tf.add(tf.tensor(randomArray(rng, size), shape), offset);
  const g = tf.tensor1d(randomArray(rng, d));
  const b = tf.tensor1d(randomArray(rng, d));
  const r = tf.tensor(randomArray(rng, size), shape);
  const inputs = affine ? [x, g, b] : [x];
  const f = (...ts: tf.Tensor[]) => tf.sum(tf.mul(tf.square(ln(ts[0]!, 1e-6, ts[1], ts[2])), r));
  const { value, grads } = tf.valueAndGrads(f)(inputs);
  const y = tf.tidy(() => (affine ? ln(x, 1e-6, g, b) : ln(x, 1e-6)));
  const out: Float32Array[] = [];
  for (const t of [y, value, ...grads]) out.push(Float32Array.from(await t.data()));
  tf.dispose([x, g, b, r, y, value, ...grads]);
  return out;
}

describe('layerNorm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  const cases: [string, number[], number, boolean][] = [
    ['tokens [B, T, D]', [2, 7, 16], 0, true],
    ['[N, D] without affine', [5, 12], 0, false],
    ['large mean', [3, 4, 10], 30, true],
  ];
  for (const [name, shape, offset, affine] of cases) {
    it(`matches the moments formulation in value and gradients: ${name}`, async () => {
      const ref = await valueAndGrads(plainLayerNorm, shape, offset, affine);
      const got = await valueAndGrads(layerNorm, shape, offset, affine);
      expect(got.length).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) expect(relErr(ref[i]!, got[i]!), `output ${i}`).toBeLessThan(2e-4);
    });
  }
  it('names the shapes when gamma is the wrong width', () => {
    const x = tf.zeros([2, 3, 4]);
    const g = tf.ones([3]);
    expect(() => layerNorm(x, 1e-6, g)).toThrow(/gamma and beta must be \[4\] for x \[2,3,4\]; got gamma \[3\]/);
    tf.dispose([x, g]);
  });
  it('does not leak', async () => {
    const x = tf.randomUniform([2, 5, 8]);
    const g = tf.variable(tf.ones([8]));
    const growth = await tensorGrowthPerStep(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layerNorm(x, 1e-6, g))) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(growth).toBe(0);
    tf.dispose([x, g]);
  });
});
