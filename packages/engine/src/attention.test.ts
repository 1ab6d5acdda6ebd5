import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomArray, relErr } from './__fixtures__/compare.js';
import { attention, mergeHeads, splitHeads } from './attention.js';
import { initBackend } from './backend.js';
import { tensorGrowthPerStep } from './memory.js';
import { tf } from './tf.js';

/** timm's multi-head self-attention block as plain tfjs (rank-5 qkv transpose). */
function plainMhsa(x: tf.Tensor3D, wqkv: tf.Tensor2D, heads: number): tf.Tensor {
  const [b, t, d] = x.shape;
  const dh = d / heads;
  const qkv = tf.reshape(tf.matMul(tf.reshape(x, [b * t, d]), wqkv), [b, t, 3, heads, dh]);
  const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const p = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
  return tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [b, t, d]);
}

function helperMhsa(x: tf.Tensor3D, wqkv: tf.Tensor2D, heads: number): tf.Tensor {
  const [b, t, d] = x.shape;
  const qkv = tf.reshape(tf.matMul(tf.reshape(x, [b * t, d]), wqkv), [b, t, 3 * d]);
  const [q, k, v] = splitHeads(qkv, heads, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  return mergeHeads(attention(q, k, v));
}

async function valueAndGrads(block: typeof plainMhsa, shape: [number, number, number], heads: number): Promise<Float32Array[]> {
  const rng = new Rng(4);
  const [b, t, d] = shape;
  const x = tf.tensor3d(randomArray(rng, b * t * d), shape);
  const w = tf.tensor2d(randomArray(rng, d * 3 * d), [d, 3 * d]);
  const r = tf.tensor3d(randomArray(rng, b * t * d), shape);
  const { value, grads } = tf.valueAndGrads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(block(xi as tf.Tensor3D, wi as tf.Tensor2D, heads), r)))([x, w]);
  const y = tf.tidy(() => block(x, w, heads));
  const res: Float32Array[] = [];
  for (const t2 of [y, value, ...grads]) res.push(Float32Array.from(await t2.data()));
  tf.dispose([x, w, r, y, value, ...grads]);
  return res;
}

describe('attention helpers', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  const cases: [string, [number, number, number], number][] = [
    ['small heads (stock batched product)', [2, 5, 12], 3],
    ['large heads (one product per head)', [1, 130, 128], 2],
  ];
  for (const [name, shape, heads] of cases) {
    it(`splitHeads + attention + mergeHeads match timm's rank-5 formulation in value and gradients: ${name}`, async () => {
      const ref = await valueAndGrads(plainMhsa, shape, heads);
      const got = await valueAndGrads(helperMhsa, shape, heads);
      const labels = ['y', 'loss', 'dx', 'dW'];
      for (let i = 0; i < ref.length; i++) expect(relErr(ref[i]!, got[i]!), labels[i]).toBeLessThan(1e-4);
    });
  }
  it('splitHeads with parts = 1 is the per-head view, and mergeHeads inverts it', async () => {
    const x = tf.tensor3d(Array.from({ length: 2 * 3 * 4 }, (_, i) => i), [2, 3, 4]);
    const [h] = splitHeads(x, 2);
    expect(h!.shape).toEqual([2, 2, 3, 2]);
    // batch 0, head 1, token 2 = columns 2..3 of row (0, 2) = [10, 11]
    expect(Array.from(await tf.slice(h!, [0, 1, 2, 0], [1, 1, 1, 2]).data())).toEqual([10, 11]);
    const back = mergeHeads(h!);
    expect(Array.from(await back.data())).toEqual(Array.from(await x.data()));
    tf.dispose([x, h!, back]);
  });
  it('names shapes in errors', () => {
    const x = tf.zeros([2, 3, 10]);
    expect(() => splitHeads(x, 4, 1)).toThrow(/last axis 10 of x \[2,3,10\].*parts \(1\) × heads \(4\)/);
    const q = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    const k = tf.zeros([1, 2, 5, 4]) as tf.Tensor4D;
    expect(() => attention(q, k, q)).toThrow(/k \[1,2,5,4\]/);
    tf.dispose([x, q, k]);
  });
  it('does not leak', async () => {
    const x = tf.randomUniform([1, 130, 64]) as tf.Tensor3D;
    const w = tf.variable(tf.randomUniform([64, 192], -0.1, 0.1));
    const growth = await tensorGrowthPerStep(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(helperMhsa(x, w as tf.Tensor2D, 1)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(growth).toBe(0);
    tf.dispose([x, w]);
  });
});
