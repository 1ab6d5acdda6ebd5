import { Rng } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { randomArray, relErr, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tensorGrowthPerStep } from '../memory.js';
import { tf } from '../tf.js';

// conv3×3 → relu → conv3×3/2 → relu → conv1×1/2 → GAP → dense(ᵀ) → gather a row: every replaced kernel is on the
// backward path (BackpropFilter, BackpropInput, transposed BatchMatMul, UnsortedSegmentSum).
const SHAPES = { w1: [3, 3, 3, 4], w2: [3, 3, 4, 6], w3: [1, 1, 6, 5], d: [7, 5] } as const;
const rng = new Rng(11);
const INIT = Object.fromEntries(
  Object.entries(SHAPES).map(([k, s]) => [k, randomArray(rng, (s as readonly number[]).reduce((a, b) => a * b)).map((v) => v * 0.5)]),
) as Record<keyof typeof SHAPES, Float32Array>;
const XV = randomArray(rng, 3 * 10 * 10 * 3);
const PICK = [2, 0, 2];

function makeVars(): Record<keyof typeof SHAPES, tf.Variable> {
  return {
    w1: tf.variable(tf.tensor(INIT.w1, [...SHAPES.w1])),
    w2: tf.variable(tf.tensor(INIT.w2, [...SHAPES.w2])),
    w3: tf.variable(tf.tensor(INIT.w3, [...SHAPES.w3])),
    d: tf.variable(tf.tensor(INIT.d, [...SHAPES.d])),
  };
}

function loss(v: Record<keyof typeof SHAPES, tf.Variable>, x: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const h1 = tf.relu(tf.conv2d(x, v.w1 as tf.Tensor4D, 1, 'same'));
    const h2 = tf.relu(tf.conv2d(h1, v.w2 as tf.Tensor4D, 2, 'same'));
    const h3 = tf.conv2d(h2, v.w3 as tf.Tensor4D, 2, 'same');
    const pooled = tf.mean(h3, [1, 2]) as tf.Tensor2D; // [3, 5]
    const logits = tf.matMul(pooled, v.d, false, true); // [3, 7]
    const picked = tf.gather(v.d, tf.tensor1d(PICK, 'int32')); // [3, 5]
    return tf.add(tf.mean(tf.square(logits)), tf.mean(tf.mul(picked, pooled))) as tf.Scalar;
  });
}

async function gradsOn(backend: 'cpu' | 'wasm'): Promise<Record<string, Float32Array>> {
  await initBackend(backend);
  const v = makeVars();
  const x = tf.tensor4d(XV, [3, 10, 10, 3]);
  const { value, grads } = tf.variableGrads(() => loss(v, x), Object.values(v));
  const out: Record<string, Float32Array> = { loss: Float32Array.from(await value.data()) };
  for (const [k, variable] of Object.entries(v)) {
    const g = grads[variable.name];
    if (g) out[k] = Float32Array.from(await g.data());
  }
  tf.dispose([value, x, ...Object.values(grads), ...Object.values(v)]);
  return out;
}

describe('a tiny conv net trains on wasm with tf.variableGrads', () => {
  it('matches the cpu backend gradients', async () => {
    const ref = await gradsOn('cpu');
    const got = await gradsOn('wasm');
    expect(Object.keys(got).sort()).toEqual(['d', 'loss', 'w1', 'w2', 'w3']);
    for (const k of Object.keys(ref)) expect(relErr(ref[k]!, got[k]!), k).toBeLessThan(5e-5);
  });

  it('lowers the loss with SGD and leaks no tensor or wasm buffer per step', async () => {
    await initBackend('wasm');
    const v = makeVars();
    const x = tf.tensor4d(XV, [3, 10, 10, 3]);
    const opt = tf.train.sgd(0.1);
    const losses: number[] = [];
    const step = async () => {
      const l = opt.minimize(() => loss(v, x), true, Object.values(v));
      losses.push((await l!.data())[0]!);
      l!.dispose();
    };
    expect(await tensorGrowthPerStep(step, 3)).toBe(0);
    const before = wasmFootprint();
    await step();
    expect(wasmFootprint()).toEqual(before);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    tf.dispose([x, ...Object.values(v)]);
    opt.dispose();
  });
});
