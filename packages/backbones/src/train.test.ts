import { Rng } from '@hier-ts/core';
import { initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { countFlops } from '@hier-ts/engine';
import { createModel, createTrainStep, trainStepFlopsPerImage } from './index.js';

// Gradient steps on wasm rely on the engine's Conv2DBackpropFilter kernel (missing in stock wasm).
function images(n: number, s: number, c: number, seed = 1): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * s * s * c }, () => rng.normal()), [n, s, s, c]);
}

describe('training steps (wasm, small shapes)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('every trainable variable of cnn4 gets a finite gradient; frozen ones are not offered', () => {
    const m = createModel('cnn4', { inChannels: 3 });
    const x = images(4, 16, 3);
    const vars = m.namedVariables();
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.embed(x, 'train'))) as tf.Scalar, vars.map((v) => v.variable));
    for (const v of vars) {
      const g = grads[v.variable.name];
      expect(g, v.name).toBeDefined();
      expect(tf.all(tf.isFinite(g!)).dataSync()[0]).toBe(1);
    }
    expect(tf.sum(tf.abs(grads[m.body.params.get('conv1.weight').name]!)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  it('vit_tiny: patch_embed stays fixed, the rest moves, no tensor leak per step', async () => {
    const m = createModel('vit_tiny', { imageSize: 16, patchSize: 8, depth: 1 });
    const x = images(2, 16, 3);
    const before = await m.body.params.get('patch_embed.proj.weight').data();
    const pos0 = await m.body.params.get('pos_embed').data();
    // Not the default mean(z²): it is constant once the rows saturate at the clip radius, so its gradient is
    // rounding noise. A fixed projection of z has a real gradient everywhere.
    const dir = tf.randomNormal([m.embeddingDim, 1], 0, 1, 'float32', 4);
    const loss = (z: tf.Tensor2D) => tf.sum(tf.matMul(z, dir)) as tf.Scalar;
    const { step, dispose } = createTrainStep(m, { optimizer: tf.train.sgd(0.1), loss });
    expect(await tensorGrowthPerStep(() => step(x), 2)).toBe(0);
    dir.dispose();
    expect([...(await m.body.params.get('patch_embed.proj.weight').data())]).toEqual([...before]);
    expect([...(await m.body.params.get('pos_embed').data())]).not.toEqual([...pos0]);
    dispose();
    x.dispose();
    m.dispose();
  });

  it('resnet18 with bn_freeze keeps running stats through a step; micro-batching gives the batch gradient', async () => {
    const x = images(4, 32, 3);
    const params: Float32Array[] = [];
    for (const microBatch of [4, 2]) {
      const m = createModel('resnet18', { seed: 9 });
      const rm = await m.body.params.get('layer1.0.bn1.running_mean').data();
      const { step, dispose } = createTrainStep(m, { microBatch, optimizer: tf.train.sgd(0.05) });
      await step(x);
      expect([...(await m.body.params.get('layer1.0.bn1.running_mean').data())]).toEqual([...rm]);
      params.push((await m.body.params.get('conv1.weight').data()) as Float32Array);
      dispose();
      m.dispose();
    }
    const [a, b] = params as [Float32Array, Float32Array];
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
    expect(err).toBeLessThan(1e-6);
    x.dispose();
  });

  it('cnn4 training lowers the simple loss', async () => {
    const m = createModel('cnn4');
    const x = images(8, 12, 1);
    const loss = (z: tf.Tensor2D) => tf.mean(tf.slice(z, [0, 0], [-1, 1])) as tf.Scalar;
    const { step, dispose } = createTrainStep(m, { optimizer: tf.train.adam(1e-2), loss });
    const first = await step(x);
    let last = first;
    // BN in train mode assigns new running statistics each step; that must not leak either.
    expect(await tensorGrowthPerStep(async () => (last = await step(x)), 4)).toBe(0);
    expect(last).toBeLessThan(first);
    dispose();
    x.dispose();
    m.dispose();
  });
  it('trainStepFlopsPerImage: the per-image work does not depend on how many images measure it, and is 2–3× the forward', async () => {
    const opts = { imageSize: 32, patchSize: 8, depth: 2 };
    const [ma, mb] = [createModel('vit_tiny', opts), createModel('vit_tiny', opts)];
    const two = await trainStepFlopsPerImage(ma, 32, 3, 2);
    const three = await trainStepFlopsPerImage(mb, 32, 3, 3);
    ma.dispose();
    mb.dispose();
    expect(three.perImage).toBeCloseTo(two.perImage, 0);
    const m = createModel('vit_tiny', opts);
    const x = images(1, 32, 3);
    const fwd = await countFlops(() => m.embed(x, 'eval'));
    // Backward = input and weight gradients of every product, except the frozen patch embedding's.
    expect(two.perImage).toBeGreaterThan(2.5 * fwd.flops);
    expect(two.perImage).toBeLessThan(3 * fwd.flops);
    expect(Object.keys(two.byKernel)).toContain('BatchMatMul');
    tf.dispose([x, fwd.result]);
    m.dispose();
  });
});
