import { Rng } from '@hier-ts/core';
import { initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, type TrainConfig } from './config.js';
import { Replica } from './replica.js';
import { backpropEmbeddings, embedBatch, fusedGradients, lossGradients } from './step.js';
import { createToyLoss, createToyModel } from './toy.js';

function batch(seed: number, n: number, classes: number) {
  const rng = new Rng(seed);
  const images = new Float32Array(n * 4 * 4 * 1);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2) % classes);
  return { images, shape: [n, 4, 4, 1] as [number, number, number, number], labels };
}

function cfg(over: Partial<TrainConfig> = {}): TrainConfig {
  return { ...defaultConfig(), model: 'cnn4', lr: 1e-2, weight_decay: 1e-4, warmup_epochs: 0, epochs: 2, batch_size: 16, lambda2: 0, use_fp16: false, clip_grad: 1, ...over };
}

describe('gradient caching', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('micro-batches of 4 give the full-batch gradients (float32 precision)', async () => {
    const model = createToyModel({ inputSize: 16, hidden: 12, emb: 6, seed: 1 });
    const loss = createToyLoss({ numClasses: 3, emb: 6, seed: 2 });
    const b = batch(3, 16, 3);
    const set = { metric: loss, hier: null, lambda1: 1, lambda2: 0 };
    const full = fusedGradients(model, b.images, b.shape, b.labels, set);
    const z = embedBatch(model, b.images, b.shape, 4);
    const lg = lossGradients(z, b.labels, set);
    const mg = backpropEmbeddings(model, b.images, b.shape, lg.dz, 4);
    expect(Math.abs((await lg.total.data())[0]! - (await full.total.data())[0]!)).toBeLessThan(1e-5);
    let checked = 0;
    for (const v of [...model.namedVariables(), ...loss.namedVariables()]) {
      const ref = (await full.grads[v.variable.name]!.data()) as Float32Array;
      const got = (await (mg[v.variable.name] ?? lg.lossGrads[v.variable.name])!.data()) as Float32Array;
      const scale = Math.max(...Array.from(ref, Math.abs));
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-5 * Math.max(1, scale));
      checked++;
    }
    expect(checked).toBe(5);
    tf.dispose([full.total, full.metric, full.hier, ...Object.values(full.grads), z, lg.total, lg.metric, lg.hier, lg.dz, ...Object.values(lg.lossGrads), ...Object.values(mg)]);
    model.dispose();
    loss.dispose();
  });

  it('with train-mode BN, running statistics are updated by the first pass only', async () => {
    const model = createToyModel({ inputSize: 16, hidden: 8, emb: 4, seed: 1, batchNorm: true });
    const b = batch(4, 8, 2);
    const stats = () => model.stateVariables().filter((v) => v.name.includes('running'));
    const z = embedBatch(model, b.images, b.shape, 4);
    const afterPass1 = await Promise.all(stats().map((v) => v.variable.data()));
    const dz = tf.onesLike(z) as tf.Tensor2D;
    const mg = backpropEmbeddings(model, b.images, b.shape, dz, 4);
    const afterPass3 = await Promise.all(stats().map((v) => v.variable.data()));
    expect(afterPass3).toEqual(afterPass1);
    expect(Array.from(afterPass1[0]!).some((x) => x !== 0)).toBe(true);
    tf.dispose([z, dz, ...Object.values(mg)]);
    model.dispose();
  });

  it('a replica step with micro-batches equals the fused step, and does not leak tensors', async () => {
    const run = async (micro: number) => {
      const model = createToyModel({ inputSize: 16, hidden: 12, emb: 6, seed: 5 });
      const loss = createToyLoss({ numClasses: 3, emb: 6, seed: 6, lrScale: 10 });
      const r = new Replica({ model, metric: loss, hier: null }, cfg({ micro_batch: micro }));
      for (let it = 0; it < 3; it++) await r.step(batch(10 + it, 16, 3), { it, itersPerEpoch: 3 });
      const p = await r.parameters();
      const leak = await tensorGrowthPerStep(() => r.step(batch(99, 16, 3), { it: 3, itersPerEpoch: 3 }), 2);
      model.dispose();
      loss.dispose();
      return { p, leak };
    };
    const a = await run(0);
    const b = await run(4);
    expect(a.leak).toBe(0);
    expect(b.leak).toBe(0);
    let maxDiff = 0;
    for (let i = 0; i < 200; i++) maxDiff = Math.max(maxDiff, Math.abs(a.p[i]! - b.p[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('reports a NaN loss naming the term and leaves parameters unchanged', async () => {
    const model = createToyModel({ inputSize: 16, hidden: 4, emb: 3, seed: 5 });
    const loss = createToyLoss({ numClasses: 2, emb: 3, seed: 6 });
    const r = new Replica({ model, metric: loss, hier: null }, cfg());
    const before = await r.parameters();
    const b = batch(1, 16, 2);
    b.images[3] = Number.NaN;
    const rep = await r.step(b, { it: 0, itersPerEpoch: 1 });
    expect(rep.nonFinite?.term).toBe('metric');
    expect(Array.from(await r.parameters())).toEqual(Array.from(before));
    model.dispose();
    loss.dispose();
  });
});
