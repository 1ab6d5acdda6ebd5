import { Rng } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanSquareFactory, meanSquareFactorySpec } from './bench-factory.js';
import { type TrainConfig, defaultConfig } from './config.js';
import type { LocalBatch } from './replica.js';
import { startReplicas } from './replicas.js';

function cfg(over: Partial<TrainConfig>): TrainConfig {
  return {
    ...defaultConfig(),
    model: 'resnet18',
    image_size: 32,
    emb: 8,
    lambda2: 0,
    // Unclipped features: mean(z²) pulls radially, which the ball's norm clip would cancel.
    clip_r: 50,
    optimizer: 'sgd',
    lr: 1,
    lr_batch_ref: 4,
    weight_decay: 0,
    warmup_epochs: 0,
    epochs: 1,
    backend: 'wasm',
    replica_transport: 'threads',
    ...over,
  };
}

describe('meanSquareFactory (the all-cores train-step benchmark)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('two thread replicas take the step of one process on the global batch (frozen BN: batch-independent)', async () => {
    const rng = new Rng(3);
    const batch: LocalBatch = {
      images: Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rng.normal()),
      shape: [4, 32, 32, 3],
      labels: Int32Array.from([0, 0, 1, 1]),
    };
    const one = await startReplicas(cfg({ devices: 1, batch_size: 4, emulate_world_size: 2 }), { factory: meanSquareFactorySpec(), localFactory: meanSquareFactory });
    const two = await startReplicas(cfg({ devices: 2, batch_size: 2 }), { factory: meanSquareFactorySpec() });
    try {
      const before = (await one.parameters())[0]!.slice();
      const r1 = await one.step(batch, { it: 0, itersPerEpoch: 1 });
      const r2 = await two.step(batch, { it: 0, itersPerEpoch: 1 });
      expect(r1.loss).toBeGreaterThan(0);
      expect(r2.loss).toBeCloseTo(r1.loss, 5);
      const [a] = await one.parameters();
      const [b0, b1] = await two.parameters();
      expect(Array.from(b0!)).toEqual(Array.from(b1!));
      let moved = 0;
      let worst = 0;
      for (let i = 0; i < a!.length; i++) {
        moved = Math.max(moved, Math.abs(a![i]! - before[i]!));
        worst = Math.max(worst, Math.abs(a![i]! - b0![i]!) / Math.max(1, Math.abs(a![i]!)));
      }
      expect(moved).toBeGreaterThan(1e-3);
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
