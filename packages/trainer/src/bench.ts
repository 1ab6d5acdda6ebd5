/**
 * End-to-end training throughput: `train.e2e.<model>.<size>.r<replicas>` in images/s for ResNet-18@64 and
 * ViT-Tiny/8@64 with 1 and 2 replicas (worker threads, one wasm instance each), PA + 0.5·HIER (64 proxies),
 * synthetic class-structured images generated in the loop (the data cost is real work, not a cached tensor).
 * Both replica counts run the same global batch, the same data generation (in the main thread, before each step)
 * and the same step code, in alternating blocks of steps (see runBenchmarks); only the number of replicas differs.
 * Each record also carries the fraction of the
 * timed steps' wall time in data, forward, losses, backward, all-reduce (all collectives, waits included) and the
 * optimiser (mean over replicas of each replica's own timers; `other` = the rest: messaging, batch slicing), and
 * the load average before and after, since this machine's two cores may be shared.
 */
import os from 'node:os';
import { type BenchRecord, PYTORCH_ANCHOR_SOURCE, PYTORCH_TRAIN_STEP_ANCHORS, Rng, machineInfo } from '@hier-ts/core';
import { currentBackend, initBackend, measureFmaPeak, rooflineFigures } from '@hier-ts/engine';
import { type TrainConfig, defaultConfig } from './config.js';
import { meanSquareFactorySpec } from './bench-factory.js';
import { hierFactory, hierFactorySpec, modelFromConfig } from './factory.js';
import type { LocalBatch, StepReport } from './replica.js';
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

function benchConfig(c: Pick<Case, 'model' | 'size' | 'patch'>, batch: number, replicas: number): TrainConfig {
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

/** The params every replica record carries: the model and how its replicas run and update. */
function replicaParams(c: Pick<Case, 'model' | 'size' | 'patch'>, replicas: number) {
  return {
    model: c.model,
    imageSize: c.size,
    patchSize: c.patch,
    replicas,
    transport: replicas > 1 ? 'threads' : 'local',
    optimizer: replicas > 1 ? 'adamw (ZeRO-1 sharded)' : 'adamw',
  };
}

/** Adds one step's times (mean over replicas) to the running sums. */
function addTimes(sums: Record<'forward' | 'losses' | 'backward' | 'allreduce' | 'optimizer', number>, r: StepReport): void {
  const all = r.replicaTimes ?? [r.times];
  for (const t of all) {
    sums.forward += t.forward / all.length;
    sums.losses += t.loss / all.length;
    sums.backward += t.backward / all.length;
    sums.allreduce += t.allreduce / all.length;
    sums.optimizer += t.optimizer / all.length;
  }
}

interface Series {
  replicas: number;
  driver: ReplicaDriver;
  /** Per timed step: wall seconds (data included), process CPU seconds, and the part sums. */
  wall: number[];
  cpu: number[];
  sums: Record<'data' | 'forward' | 'losses' | 'backward' | 'allreduce' | 'optimizer', number>;
}

function median(a: readonly number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Per model: the 1- and 2-replica drivers are alive together and run in alternating blocks of steps (ABBA), both
 * on the same sequence of global batches, generated in the loop. On a machine whose cores other work may share,
 * this exposes both to the same load; the figure is the median timed step (data included) of each.
 */
export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  await initBackend('wasm');
  return [...(await runEndToEnd(options)), ...(await runAllCoreSteps(options))];
}

async function runEndToEnd(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const { quick, log } = options;
  const machine = machineInfo();
  const records: BenchRecord[] = [];
  const steps = quick ? 2 : 6;
  for (const c of CASES) {
    const batch = quick ? c.quickBatch : c.batch;
    const numClasses = 50;
    // Per driver: blocks of steps, each block's first step untimed (see below).
    const warmupSteps = quick ? 0 : 3;
    const totalSteps = warmupSteps + (quick ? 2 : 3) * Math.ceil(steps / ((quick ? 2 : 3) - 1));
    const data = createToyData({ numImages: batch * totalSteps, numClasses, imageShape: [c.size, c.size, 3], globalBatch: batch, ipc: 2, seed: 0 });
    const series: Series[] = [];
    try {
      for (const replicas of [1, 2]) {
        const driver = await startReplicas(benchConfig(c, batch, replicas), { factory: hierFactorySpec({ numClasses }), localFactory: hierFactory, backendName: currentBackend()?.backend });
        series.push({ replicas, driver, wall: [], cpu: [], sums: { data: 0, forward: 0, losses: 0, backward: 0, allreduce: 0, optimizer: 0 } });
      }
      const loadBefore = os.loadavg()[0]!;
      // Blocks of `blockSteps` steps per driver in ABBA order; the first step of each block is not timed. Strict
      // step-by-step alternation made every step start with caches the other driver had just evicted, a cost no
      // training run pays (it runs one driver) and one that weighs more on the shorter 2-replica step.
      const blockSteps = quick ? 2 : 3;
      const blocksPerDriver = Math.ceil(steps / (blockSteps - 1));
      const next = series.map(() => 0);
      // Warm-up first: wasm compilation, JIT tiers and the first growth of each replica's heap (fresh memory is
      // slow to touch on this VM) kept ViT-Tiny's steps falling for ~6 steps.
      for (let w = 0; w < warmupSteps; w++) {
        for (const [which, x] of series.entries()) {
          const s = next[which]!++;
          await x.driver.step(data.batches(0, s, s + 1)[Symbol.iterator]().next().value!, { it: s, itersPerEpoch: totalSteps });
        }
      }
      for (let block = 0; block < 2 * blocksPerDriver; block++) {
        const which = [0, 1, 1, 0][block % 4]!;
        const x = series[which]!;
        for (let j = 0; j < blockSteps; j++) {
          const s = next[which]!++;
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          // Each driver generates its own copy of batch s: the data cost is paid in every timed step.
          const b = data.batches(0, s, s + 1)[Symbol.iterator]().next().value!;
          const dataSeconds = (performance.now() - t0) / 1000;
          const report = await x.driver.step(b, { it: s, itersPerEpoch: totalSteps });
          const wall = (performance.now() - t0) / 1000;
          const cu = process.cpuUsage(c0);
          if (j === 0) continue; // caches after the other driver ran
          x.wall.push(wall);
          x.cpu.push((cu.user + cu.system) / 1e6);
          x.sums.data += dataSeconds;
          addTimes(x.sums, report);
        }
      }
      const load = [Math.round(loadBefore * 100) / 100, Math.round(os.loadavg()[0]! * 100) / 100];
      const single = batch / median(series[0]!.wall);
      for (const x of series) {
        const value = batch / median(x.wall);
        const total = x.wall.reduce((a, b) => a + b, 0);
        const parts: Record<string, number> = { ...x.sums, other: Math.max(0, total - Object.values(x.sums).reduce((a, b) => a + b, 0)) };
        const fractions = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Math.round((v / total) * 1000) / 1000]));
        const id = `train.e2e.${c.model}.${c.size}.r${x.replicas}`;
        const speedup = x.replicas > 1 ? value / single : undefined;
        log(
          `${id}: ${value.toFixed(2)} img/s (batch ${batch}, median of ${steps} steps${speedup ? `, ${speedup.toFixed(2)}x r1` : ''}, load ${load.join(' -> ')}) fractions ${JSON.stringify(fractions)}`,
        );
        records.push({
          id,
          value,
          unit: 'img/s',
          params: {
            ...replicaParams(c, x.replicas),
            globalBatch: batch,
            loss: 'PA + 0.5*HIER (64 proxies)',
            steps,
            quick,
            meanImagesPerSec: (batch * x.wall.length) / total,
            cpuSecondsPerStep: median(x.cpu),
            stepSeconds: x.wall.map((v) => Math.round(v * 1000) / 1000),
            stepCpuSeconds: x.cpu.map((v) => Math.round(v * 1000) / 1000),
            fractions,
            loadAverage1m: load,
            speedupVsOneReplica: speedup,
            note: 'median step (data included); after 3 warm-up steps each, r1 and r2 run in ABBA blocks of steps, the first step of each block untimed; fractions of the timed steps\' wall time (mean over replicas of their own timers, other = messaging and slicing); 1-minute load average before and after',
          },
          backend: 'wasm',
          machine,
          target: x.replicas > 1 ? '>= 1.7x the 1-replica figure' : undefined,
        });
      }
    } catch (err) {
      log(`train.e2e.${c.model}.${c.size}: failed: ${(err as Error).message}`);
      throw err;
    } finally {
      for (const x of series) await x.driver.close();
    }
  }
  return records;
}

interface StepCase {
  /** `<model>.<size>.b<batch>`: the record id is `train-step.<key>`, the anchor is PYTORCH_TRAIN_STEP_ANCHORS[key]. */
  key: string;
  model: string;
  size: number;
  patch?: number;
  batch: number;
  quickBatch: number;
  /** The issue's target: within this factor of PyTorch. */
  within: number;
}

const STEP_CASES: StepCase[] = [
  { key: 'resnet18.64.b64', model: 'resnet18', size: 64, batch: 64, quickBatch: 16, within: 3 },
  { key: 'vit_tiny.64.b64', model: 'vit_tiny', size: 64, patch: 8, batch: 64, quickBatch: 16, within: 2 },
  { key: 'resnet50.224.b16', model: 'resnet50', size: 224, batch: 16, quickBatch: 4, within: 3 },
  { key: 'vit_small.224.b16', model: 'vit_small_patch16_224', size: 224, batch: 16, quickBatch: 4, within: 2 },
];

/** Floating-point work per image of the step (`trainStepFlopsPerImage` on a throw-away model of the config, in this thread). */
async function stepWork(cfg: TrainConfig): Promise<{ gflopPerImage: number; gflopPerImageByKernel: Record<string, number> }> {
  const { trainStepFlopsPerImage } = await import('@hier-ts/backbones');
  const model = (await modelFromConfig(cfg)) as Parameters<typeof trainStepFlopsPerImage>[0];
  try {
    const { perImage, byKernel } = await trainStepFlopsPerImage(model, cfg.image_size);
    const round3 = (v: number) => Math.round(v / 1e6) / 1e3;
    return { gflopPerImage: perImage / 1e9, gflopPerImageByKernel: Object.fromEntries(Object.entries(byKernel).map(([k, v]) => [k, round3(v)])) };
  } finally {
    model.dispose();
  }
}

/**
 * The step's rate against the machine's FMA peak (`rooflineFigures`), with the per-kernel work and what was counted.
 * A target above the peak cannot be reached by any wasm kernel on this CPU, only by doing less work.
 */
function rooflineOf(work: { gflopPerImage: number; gflopPerImageByKernel: Record<string, number> }, imagesPerSecond: number, targetImagesPerSecond: number, peakGflops: number) {
  return {
    ...rooflineFigures({ gflopPerImage: work.gflopPerImage, imagesPerSecond, peakGflops, targetImagesPerSecond }),
    gflopPerImageByKernel: work.gflopPerImageByKernel,
    counted: 'convolutions (as direct convolutions, also where Winograd runs them) and matrix products, forward + backward (countFlops); element-wise work not counted',
  };
}

/** One replica per core, as many as divide the batch into even (IPC = 2) slices. */
function replicasFor(batch: number): number {
  let r = Math.max(1, Math.min(os.cpus().length, batch >> 1));
  while (batch % (2 * r) !== 0) r--;
  return r;
}

/**
 * `train-step.<model>.<size>.b<batch>`: the step of the PyTorch anchors (forward + backward + AdamW, loss mean(z²),
 * BN frozen for ResNet, patch_embed frozen for ViT) on all cores, one replica per core through the trainer's
 * data-parallel step (gradient reduce-scatter, ZeRO-1 AdamW shards), against shared/anchors/pytorch-cpu.md.
 */
async function runAllCoreSteps(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const { quick, log } = options;
  const machine = machineInfo();
  const records: BenchRecord[] = [];
  const warmup = quick ? 1 : 2;
  const timed = quick ? 1 : 3;
  // The ceiling of every record below: register-only FMA on every core at once, measured in this run.
  const peak = await measureFmaPeak();
  log(`fma peak (f32x4.relaxed_madd, ${peak.threads} threads, registers only): ${peak.gflops.toFixed(1)} GFLOP/s`);
  for (const c of STEP_CASES) {
    const batch = quick ? c.quickBatch : c.batch;
    const replicas = replicasFor(batch);
    const perReplica = batch / replicas;
    // The e2e config with the anchors' step: no HIER term (the metric is the factory's mean(z²)), AdamW, no clipping,
    // each replica's slice in one pass (all four fit the 4 GB wasm heap, so no gradient caching and its extra forward).
    const cfg: TrainConfig = { ...benchConfig(c, batch, replicas), lambda2: 0, micro_batch: 0, optimizer: 'adamw', clip_grad: 0 };
    const rng = new Rng(1);
    const images = Float32Array.from({ length: batch * c.size * c.size * 3 }, () => rng.normal());
    const input: LocalBatch = { images, shape: [batch, c.size, c.size, 3], labels: Int32Array.from({ length: batch }, (_, i) => i >> 1) };
    const work = await stepWork(cfg);
    const driver = await startReplicas(cfg, { factory: meanSquareFactorySpec(), backendName: currentBackend()?.backend });
    try {
      const wall: number[] = [];
      const cpu: number[] = [];
      for (let s = 0; s < warmup + timed; s++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const report = await driver.step(input, { it: s, itersPerEpoch: warmup + timed });
        if (report.nonFinite) throw new Error(`train-step.${c.key}: ${report.nonFinite.detail}`);
        if (s < warmup) continue;
        wall.push((performance.now() - t0) / 1000);
        const cu = process.cpuUsage(c0);
        cpu.push((cu.user + cu.system) / 1e6);
      }
      const stepSeconds = median(wall);
      const value = batch / stepSeconds;
      const anchor = PYTORCH_TRAIN_STEP_ANCHORS[c.key]!;
      const ratio = value / anchor.value;
      const id = `train-step.${c.key}`;
      const roofline = rooflineOf(work, value, (anchor.value / c.within), peak.gflops);
      log(`${id}: ${value.toFixed(2)} img/s on ${replicas} cores (${replicas} replicas × one pass of ${perReplica}, ${stepSeconds.toFixed(2)} s/step; PyTorch ${anchor.value}, ratio ${ratio.toFixed(3)}, target ≥ ${(1 / c.within).toFixed(3)})`);
      log(`  ${work.gflopPerImage.toFixed(3)} GFLOP/image: ${roofline.achievedGflops} GFLOP/s = ${roofline.achievedFractionOfPeak} of the FMA peak; the target needs ${roofline.targetGflops} GFLOP/s = ${roofline.targetFractionOfPeak} of it`);
      records.push({
        id,
        value,
        unit: 'img/s',
        params: {
          ...replicaParams(c, replicas),
          batch,
          perReplicaBatch: perReplica,
          microBatch: perReplica,
          loss: 'mean(z^2)',
          warmupSteps: warmup,
          quick,
          stepSeconds: wall.map((v) => Math.round(v * 1000) / 1000),
          cpuSecondsPerStep: median(cpu),
          loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
          roofline,
        },
        backend: 'wasm',
        machine,
        anchor: { value: anchor.value, source: `${PYTORCH_ANCHOR_SOURCE} (${anchor.note})` },
        ratio,
        target: `>= ${(1 / c.within).toFixed(3)} of PyTorch (within ${c.within}x), all cores`,
      });
    } finally {
      await driver.close();
    }
  }
  return records;
}
