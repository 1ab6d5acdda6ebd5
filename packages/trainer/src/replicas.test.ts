import { Rng, resolveWorkerUrl } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TrainConfig, defaultConfig } from './config.js';
import type { FactorySpec, LocalBatch } from './replica.js';
import { type ReplicaDriver, WorkerGroup, startReplicas } from './replicas.js';
import { toyFactory } from './toy.js';

const options = { inputSize: 16, hidden: 12, numClasses: 4, randomLoss: true };
const factory: FactorySpec = { module: resolveWorkerUrl(import.meta.url, './toy.js').href, export: 'toyFactory', options };

function cfg(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultConfig(),
    model: 'cnn4',
    emb: 6,
    // SGD: unlike Adam it is not scale-invariant, so a wrong gradient average would show.
    optimizer: 'sgd',
    lr: 5e-2,
    weight_decay: 1e-4,
    warmup_epochs: 0,
    epochs: 1,
    batch_size: 8,
    lambda2: 0,
    use_fp16: false,
    backend: 'wasm',
    ...over,
  };
}

function globalBatch(seed: number, n: number): LocalBatch {
  const rng = new Rng(seed);
  const images = new Float32Array(n * 16);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2) % 4);
  return { images, shape: [n, 4, 4, 1], labels };
}

async function train3(d: ReplicaDriver): Promise<Float32Array[]> {
  for (let it = 0; it < 3; it++) await d.step(globalBatch(100 + it, 16), { it, itersPerEpoch: 3 });
  return d.parameters();
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

describe('data-parallel replicas', () => {
  let reference: Float32Array;
  let referenceMomentum: Float32Array;
  const open: ReplicaDriver[] = [];
  afterEach(async () => {
    for (const d of open.splice(0)) await d.close();
  });

  beforeAll(async () => {
    await initBackend('wasm');
    // One replica holding the whole global batch of 16, gradients scaled as 2-GPU DDP would (1/2 x full batch).
    const one = await startReplicas(cfg({ batch_size: 16, devices: 1, emulate_world_size: 2 }), { factory, localFactory: toyFactory as never });
    reference = (await train3(one))[0]!;
    referenceMomentum = (await one.exportState()).optimizer.slots.momentum_buffer!;
    await one.close();
  });

  // threads: single-forward path (blocking gather inside the tape); threads + micro_batch and processes: the
  // three-pass gradient-caching path with an asynchronous gather.
  for (const [transport, micro] of [['threads', 0], ['threads', 4], ['processes', 0]] as const) {
    it(`2 replicas over ${transport} (micro_batch ${micro}) reach the parameters of 1 replica on the same global batch`, async () => {
      const two = await WorkerGroup.start({ cfg: cfg({ devices: 2, replica_transport: transport, micro_batch: micro }), factory, transport, timeoutMs: 60_000 });
      open.push(two);
      const [p0, p1] = await train3(two);
      expect(Array.from(p0!)).toEqual(Array.from(p1!));
      expect(maxRelDiff(p0!, reference)).toBeLessThan(2e-5);
      // Each replica updated only its shard of the moments (ZeRO-1); the exported state is assembled from all.
      const state = await two.exportState();
      expect(state.optimizer.step).toBe(3);
      expect(maxRelDiff(state.optimizer.slots.momentum_buffer!, referenceMomentum)).toBeLessThan(2e-5);
      // and they did move
      const fresh = await startReplicas(cfg({ batch_size: 16 }), { factory, localFactory: toyFactory as never });
      open.push(fresh);
      expect(maxRelDiff(p0!, (await fresh.parameters())[0]!)).toBeGreaterThan(1e-3);
    });
  }

  it('a replica process that dies stops the run with a clear error', async () => {
    const two = await WorkerGroup.start({ cfg: cfg({ devices: 2, replica_transport: 'processes' }), factory: { ...factory, options: { ...options, dieAtStep: 1 } }, transport: 'processes', timeoutMs: 60_000 });
    open.push(two);
    await two.step(globalBatch(1, 16), { it: 0, itersPerEpoch: 3 });
    await expect(two.step(globalBatch(2, 16), { it: 1, itersPerEpoch: 3 })).rejects.toThrow(/replica 1 \(process \d+\) exited during the run \(code 7\)/);
  });

  it('a replica thread that dies stops the run with a clear error', async () => {
    const two = await WorkerGroup.start({ cfg: cfg({ devices: 2, replica_transport: 'threads' }), factory: { ...factory, options: { ...options, dieAtStep: 1 } }, transport: 'threads', timeoutMs: 60_000 });
    open.push(two);
    await two.step(globalBatch(1, 16), { it: 0, itersPerEpoch: 3 });
    await expect(two.step(globalBatch(2, 16), { it: 1, itersPerEpoch: 3 })).rejects.toThrow(/replica 1 \(thread\) exited with code 7/);
  });

  it('a replica that stops answering fails the run after the timeout instead of hanging', async () => {
    const two = await WorkerGroup.start({ cfg: cfg({ devices: 2, replica_transport: 'threads' }), factory: { ...factory, options: { ...options, hangAtStep: 1 } }, transport: 'threads', timeoutMs: 3000 });
    open.push(two);
    await two.step(globalBatch(1, 16), { it: 0, itersPerEpoch: 3 });
    const t0 = Date.now();
    await expect(two.step(globalBatch(2, 16), { it: 1, itersPerEpoch: 3 })).rejects.toThrow(/replica \d \(thread\)/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});
