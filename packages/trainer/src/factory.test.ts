import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { initBackend, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOSS_NAMES, MODEL_NAMES, type TrainConfig, defaultConfig } from './config.js';
import { hierFactory, hierFactorySpec } from './factory.js';
import { createToyData } from './toy.js';
import { train } from './train.js';

function cfg(over: Partial<TrainConfig>): TrainConfig {
  return {
    ...defaultConfig(),
    model: 'cnn4',
    image_size: 12,
    emb: 16,
    loss: 'PA',
    lambda2: 0.5,
    num_hproxies: 8,
    topk: 3,
    IPC: 2,
    batch_size: 8,
    lr: 1e-3,
    lr_batch_ref: 8,
    warmup_epochs: 0,
    epochs: 1,
    max_iters: 2,
    use_fp16: false,
    clip_grad: 1,
    backend: 'wasm',
    progress: false,
    allow_class_repeat: true,
    output_dir: fs.mkdtempSync(path.join(os.tmpdir(), 'hier-factory-')),
    ...over,
  };
}

describe('hierFactory (real backbones + losses)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('trains cnn4 with PA + HIER in-process and in 2 thread replicas, evaluating on the main-process copy', async () => {
    const data = () => createToyData({ numImages: 64, numClasses: 3, imageShape: [12, 12, 1], globalBatch: 8, ipc: 2, seed: 1 });
    const factory = hierFactorySpec({ numClasses: 3, inChannels: 1 });
    const one = await train(cfg({ devices: 1, emulate_world_size: 2 }), { factory, localFactory: hierFactory, data: data() });
    // With replicas, evaluation runs on this process's copy loaded from replica 0.
    const seen: number[] = [];
    const two = await train(cfg({ devices: 2, batch_size: 4 }), {
      factory,
      localFactory: hierFactory,
      data: data(),
      evaluate: async (model, ctx) => {
        const x = tf.tensor4d(new Float32Array(4 * 12 * 12).fill(0.5), [4, 12, 12, 1]);
        const z = model.embed(x, 'eval');
        seen.push(ctx.epoch, z.shape[1]);
        tf.dispose([x, z]);
        return { 'R@1': 0.5 };
      },
    });
    expect(seen).toEqual([0, 16]);
    expect(two.best?.metrics['R@1']).toBe(0.5);
    expect(one.history[0]!.hierLoss).toBeGreaterThan(0);
    expect(one.history[0]!.metricLoss).toBeGreaterThan(0);
    // cnn4 has train-mode BN, whose statistics are per replica slice (as per GPU in DDP), so the two runs are not
    // expected to agree; both must train on the real losses.
    for (const r of [one, two]) {
      expect(Number.isFinite(r.history[0]!.loss)).toBe(true);
      expect(r.history[0]!.hierLoss).toBeGreaterThan(0);
      expect(r.parameters.every(Number.isFinite)).toBe(true);
    }
    expect(two.parameters.length).toBe(one.parameters.length);
    one.model.dispose();
    two.model.dispose();
  });

  it('the config accepts exactly the registries of @hier-ts/backbones and @hier-ts/losses', async () => {
    const { listModels } = await import('@hier-ts/backbones');
    const { METRIC_LOSS_NAMES } = await import('@hier-ts/losses');
    expect([...MODEL_NAMES].sort()).toEqual([...listModels()].sort());
    expect([...LOSS_NAMES].sort()).toEqual([...METRIC_LOSS_NAMES].sort());
  });
});
