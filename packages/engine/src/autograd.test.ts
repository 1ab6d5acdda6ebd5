import { beforeAll, describe, expect, it } from 'vitest';
import { detach, straightThrough, tensorGrowthPerStep, tf } from './index.js';
import { initBackend } from './backend.js';

describe('detach', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('passes values and blocks gradients', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, v), tf.mul(detach(v), v))))(x);
    // d/dv (v^2 + c*v) with c = v held constant = 2v + v = 3v
    expect(Array.from(g.dataSync())).toEqual([3, 6, 9]);
    x.dispose();
    g.dispose();
  });
  it('keeps the caller buffer alive when the detached copy is disposed', () => {
    const x = tf.tensor1d([4, 5]);
    const d = detach(x);
    d.dispose();
    expect(Array.from(x.dataSync())).toEqual([4, 5]);
    const e = detach(x);
    x.dispose();
    expect(Array.from(e.dataSync())).toEqual([4, 5]);
    e.dispose();
  });
  it('straightThrough has the forward value of hard and the gradient of soft', () => {
    const x = tf.tensor1d([0.2, 0.5]);
    const f = (v: tf.Tensor) => tf.sum(straightThrough(tf.round(v), tf.mul(v, 2)));
    const g = tf.grad(f)(x);
    expect(f(x).dataSync()[0]).toBeCloseTo(0, 6);
    expect(Array.from(g.dataSync())).toEqual([2, 2]);
  });
  it('does not leak tensors', async () => {
    const x = tf.tensor1d([1, 2, 3]);
    const growth = await tensorGrowthPerStep(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(detach(v), v)))(x);
      g.dispose();
    });
    expect(growth).toBe(0);
    x.dispose();
  });
});
