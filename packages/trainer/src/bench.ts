/**
 * End-to-end training throughput: `train.e2e.<model>.<size>.r<replicas>` in images/s for ResNet-18@64 and
 * ViT-Tiny/8@64 with 1 and 2 replicas (worker threads, one wasm instance each), PA + 0.5·HIER (64 proxies),
 * synthetic class-structured images generated in the loop (the data cost is real work, not a cached tensor).
 * Each record also carries the fraction of step time in data, forward, losses, backward, all-reduce and the
 * optimiser, measured on extra profiled steps (three-pass path, so forward/loss/backward separate).
 */
import { type BenchRecord, machineInfo } from '@hier-ts/core';
import { currentBackend, initBackend } from '@hier-ts/engine';
import { type TrainConfig, defaultConfig } from './config.js';
import { hierFactory, hierFactorySpec } from './factory.js';
import type { StepReport } from './replica.js';
import { type ReplicaDriver, startReplicas } from './replicas.js';
import { createToyData } from './toy.js';

interface Case {
  model: string;
  size: number;
  patch?: number;
  batch: number;
  quickBatch: number;
}

const CASES: Case[] = [
  { model: 'resnet18', size: 64, batch: 64, quickBatch: 16 },
  { model: 'vit_tiny', size: 64, patch: 8, batch: 32, quickBatch: 16 },
];

function benchConfig(c: Case, batch: number, replicas: number): TrainConfig {
  return {
    ...defaultConfig(),
    model: c.model,
    image_size: c.size,
    patch_size: c.patch ?? 16,
    emb: 128,
    batch_size: batch / replicas,
    devices: replicas,
    IPC: 2,
    loss: 'PA',
    lambda2: 0.5,
    num_hproxies: 64,
    topk: 20,
    lr: 1e-4,
    warmup_epochs: 0,
    epochs: 1,
    clip_grad: 1,
    progress: false,
    backend: 'wasm',
    replica_transport: 'threads',
  };
}

export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const { quick, log } = options;
  await initBackend('wasm');
  const machine = machineInfo();
  const records: BenchRecord[] = [];
  const steps = quick ? 2 : 4;
  for (const c of CASES) {
    const batch = quick ? c.quickBatch : c.batch;
    let single = 0;
    for (const replicas of [1, 2]) {
      const cfg = benchConfig(c, batch, replicas);
      const numClasses = 50;
      const data = createToyData({ numImages: batch * (steps + 3), numClasses, imageShape: [c.size, c.size, 3], globalBatch: batch, ipc: 2, seed: 0 });
      let driver: ReplicaDriver | null = null;
      try {
        driver = await startReplicas(cfg, { factory: hierFactorySpec({ numClasses }), localFactory: hierFactory, backendName: currentBackend()?.backend });
        const it = data.batches(0, 0, steps + 3)[Symbol.iterator]();
        const next = () => it.next().value as { images: Float32Array; shape: [number, number, number, number]; labels: Int32Array };
        await driver.step(next(), { it: 0, itersPerEpoch: steps + 3 });
        const t0 = performance.now();
        for (let s = 1; s <= steps; s++) await driver.step(next(), { it: s, itersPerEpoch: steps + 3 });
        const seconds = (performance.now() - t0) / 1000;
        const value = (steps * batch) / seconds;
        // Profiled steps: data time measured around batch generation, the rest from the replicas' own timers.
        const td = performance.now();
        const pb = next();
        const dataSeconds = (performance.now() - td) / 1000;
        const prof: StepReport = await driver.step(pb, { it: steps + 1, itersPerEpoch: steps + 3, profile: true });
        const t = prof.times;
        const parts = { data: dataSeconds, forward: t.forward, losses: t.loss, backward: Math.max(0, t.backward - t.forward), allreduce: t.allreduce, optimizer: t.optimizer };
        const total = Object.values(parts).reduce((a, b) => a + b, 0);
        const fractions = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Math.round((v / total) * 1000) / 1000]));
        if (replicas === 1) single = value;
        const id = `train.e2e.${c.model}.${c.size}.r${replicas}`;
        log(`${id}: ${value.toFixed(2)} img/s (batch ${batch}, ${steps} steps) fractions ${JSON.stringify(fractions)}`);
        records.push({
          id,
          value,
          unit: 'img/s',
          params: {
            model: c.model,
            imageSize: c.size,
            patchSize: c.patch,
            globalBatch: batch,
            replicas,
            transport: replicas > 1 ? 'threads' : 'local',
            loss: 'PA + 0.5*HIER (64 proxies)',
            optimizer: 'adamw',
            steps,
            quick,
            fractions,
            speedupVsOneReplica: replicas > 1 && single > 0 ? value / single : undefined,
            note: 'fractions from one profiled three-pass step (the timed steps use the single-forward path)',
          },
          backend: 'wasm',
          machine,
          target: replicas > 1 ? '>= 1.7x the 1-replica figure' : undefined,
        });
      } catch (err) {
        log(`train.e2e.${c.model}.${c.size}.r${replicas}: failed: ${(err as Error).message}`);
        throw err;
      } finally {
        await driver?.close();
      }
    }
  }
  return records;
}
