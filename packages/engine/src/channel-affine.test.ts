import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, runOn } from './__fixtures__/compare.js';
import { initBackend } from './backend.js';
import { channelAffine } from './channel-affine.js';
import { tensorGrowthPerStep } from './memory.js';
import { tf } from './tf.js';

/** y and the gradients of Σ y·r with respect to x, scale, shift (and the residual), by channelAffine or by the composed tf ops. */
function run(shape: number[], relu: boolean, fused: boolean, withResidual = false, seed = 5) {
  const rng = new Rng(seed);
  const ch = shape[shape.length - 1]!;
  const xv = randomArray(rng, shape.reduce((a, b) => a * b));
  const sv = randomArray(rng, ch);
  const bv = randomArray(rng, ch);
  // x[0] = 0 and shift[0] = 0 put element 0 on the ReLU's kink: its gradient is 0 there, as tf.relu's.
  xv[0] = 0;
  bv[0] = 0;
  const rv = randomArray(rng, xv.length);
  const resv = randomArray(rng, xv.length);
  if (withResidual) resv[0] = 0;
  return () => {
    const x = tf.tensor(xv, shape);
    const s = tf.tensor1d(sv);
    const b = tf.tensor1d(bv);
    const r = tf.tensor(rv, shape);
    const res = tf.tensor(resv, shape);
    const f = (xx: tf.Tensor, ss: tf.Tensor, bb: tf.Tensor, rr?: tf.Tensor) => {
      if (fused) return channelAffine(xx, ss, bb, relu, rr);
      const affine = tf.add(tf.mul(xx, ss), bb);
      const lin = rr ? tf.add(affine, rr) : affine;
      return relu ? tf.relu(lin) : lin;
    };
    if (!withResidual) {
      const y = f(x, s, b);
      const grads = tf.grads((xx: tf.Tensor, ss: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, ss, bb), r)))([x, s, b]);
      return [y, ...grads];
    }
    const y = f(x, s, b, res);
    const grads = tf.grads((xx: tf.Tensor, ss: tf.Tensor, bb: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(f(xx, ss, bb, rr), r)))([x, s, b, res]);
    return [y, ...grads];
  };
}

describe('channelAffine (frozen BatchNorm + optional ReLU)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  for (const withResidual of [false, true])
  for (const relu of [false, true])
    for (const shape of [
      [2, 5, 3, 8], // channels in fours: the wasm heap kernels
      [7, 12],
      [2, 4, 4, 3], // not in fours: the tf-op fallback
    ])
      it(`matches the composed ops on cpu: [${shape}]${withResidual ? ' + residual' : ''}${relu ? ' + ReLU' : ''}`, async () => {
        const ref = await runOn('cpu', run(shape, relu, false, withResidual));
        const got = await compareBackends(run(shape, relu, true, withResidual));
        expect(got.shapesMatch).toBe(true);
        expect(got.err).toBeLessThan(1e-5);
        // and the fused op on wasm against the composed ones on cpu, output by output
        const fused = await runOn('wasm', run(shape, relu, true, withResidual));
        expect(fused.map((t) => t.shape)).toEqual(ref.map((t) => t.shape));
        // the forward rounds exactly as mul-then-add
        expect(Array.from(fused[0]!.values)).toEqual(Array.from(ref[0]!.values));
      });

  it('refuses a scale, shift or residual of another shape, naming it', () => {
    const x = tf.zeros([2, 3, 8]);
    const c8 = tf.ones([8]);
    const c4 = tf.ones([4]);
    const row = tf.ones([1, 8]);
    expect(() => channelAffine(x, c4, c8)).toThrow(/scale must be \[8\].*got \[4\]/);
    expect(() => channelAffine(x, c8, row)).toThrow(/shift must be \[8\].*got \[1,8\]/);
    expect(() => channelAffine(x, c8, c8, true, tf.zeros([2, 8]))).toThrow(/residual \[2,8\] must have x's shape \[2,3,8\]/);
    tf.dispose([x, c8, c4, row]);
  });

  it('holds no tensors past a training step', async () => {
    await initBackend('wasm');
    const x = tf.randomNormal([4, 6, 6, 16]);
    const s = tf.variable(tf.randomNormal([16]));
    const b = tf.variable(tf.randomNormal([16]));
    const growth = await tensorGrowthPerStep(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(channelAffine(x, s, b, true)) as tf.Scalar, [s, b]);
      tf.dispose([value, ...Object.values(grads)]);
    }, 3);
    expect(growth).toBe(0);
    tf.dispose([x, s, b]);
  });
});
