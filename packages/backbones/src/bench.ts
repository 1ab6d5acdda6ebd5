import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type BenchRecord, PYTORCH_ANCHOR_SOURCE, PYTORCH_TRAIN_STEP_ANCHORS, Rng, machineInfo, timeMedian } from '@hier-ts/core';
import { countFlops, initBackend, measureFmaPeak, rooflineFigures, tf } from '@hier-ts/engine';
import { createModel, type ModelOptions } from './registry.js';
import { createTrainStep } from './step.js';

interface Case {
  /** `<model>.<size>.b<batch>`: the anchor key; the record id is `train-step.<key>.r1` (one replica, one core). */
  key: string;
  model: string;
  options: ModelOptions;
  imageSize: number;
  /** Input channels (default 3). */
  channels?: number;
  batch: number;
  quickBatch: number;
  /** Largest micro-batch that fits the 4 GB wasm heap (~0.4 GB per image for R50@224 and ViT-S@224, ~0.06 for ViT-Tiny/8@64). */
  microBatch: number;
}

const CASES: Case[] = [
  { key: 'resnet18.64.b64', model: 'resnet18', options: {}, imageSize: 64, batch: 64, quickBatch: 16, microBatch: 64 },
  { key: 'vit_tiny.64.b64', model: 'vit_tiny', options: { patchSize: 8 }, imageSize: 64, batch: 64, quickBatch: 16, microBatch: 64 },
  { key: 'resnet50.224.b16', model: 'resnet50', options: {}, imageSize: 224, batch: 16, quickBatch: 4, microBatch: 8 },
  { key: 'cnn4.28.b90', model: 'cnn4', options: {}, imageSize: 28, channels: 1, batch: 90, quickBatch: 45, microBatch: 90 },
  { key: 'vit_small.224.b16', model: 'vit_small_patch16_224', options: {}, imageSize: 224, batch: 16, quickBatch: 4, microBatch: 8 },
];

const recordId = (c: Case) => `train-step.${c.key}.r1`;

/**
 * Images per second of one training step on one core (forward + backward + Adam update, loss mean(z²) of the HIER
 * head's embeddings, BN frozen for ResNet, patch_embed frozen for ViT). The all-cores figure of the same step, with
 * its ratio to PyTorch, is @hier-ts/trainer's `train-step.<key>` (one replica per core).
 *
 * Each case runs in its own child process (this file with `--case <key>`): tfjs-backend-wasm's heap never shrinks,
 * so a case would otherwise inherit the heap (and fragmentation) of the cases before it. A fresh process per case
 * measures each model alone, as a user's training run would be. (A ResNet-50@224 stall once seen here after the
 * heap passed 2 GB was our conv kernel's signed offset arithmetic, fixed in @hier-ts/engine.)
 */
export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  for (const c of CASES) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--case', c.key, ...(options.quick ? ['--quick'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    });
    const rec = JSON.parse(out.trim().split('\n').pop()!) as BenchRecord;
    records.push(rec);
    options.log((rec.params as { line: string }).line);
  }
  return records;
}

async function runCases(keys: string[], options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const { quick, log } = options;
  const choice = await initBackend('auto');
  const machine = machineInfo();
  const records: BenchRecord[] = [];
  for (const c of CASES.filter((x) => keys.includes(x.key))) {
    const batch = quick ? c.quickBatch : c.batch;
    const microBatch = Math.min(c.microBatch, batch);
    const model = createModel(c.model, { ...c.options, imageSize: c.imageSize, seed: 0 });
    const rng = new Rng(1);
    const ch = c.channels ?? 3;
    const x = tf.tensor4d(Float32Array.from({ length: batch * c.imageSize * c.imageSize * ch }, () => rng.normal()), [batch, c.imageSize, c.imageSize, ch]);
    const { step, dispose } = createTrainStep(model, { microBatch });
    try {
      // CPU time beside wall time: on a shared machine it is the steadier figure (one wasm thread = one core).
      const cpuSamples: number[] = [];
      // The untimed warm-up step also counts the step's floating-point work (countFlops: the wrapper costs nothing).
      let flops = 0;
      const timedStep = async () => {
        const c0 = process.cpuUsage();
        if (cpuSamples.length === 0) flops = (await countFlops(() => step(x))).flops;
        else await step(x);
        const c = process.cpuUsage(c0);
        cpuSamples.push((c.user + c.system) / 1e6);
      };
      const t = await timeMedian(timedStep, quick ? 1 : 3, 1);
      const cpuTimed = cpuSamples.slice(1).sort((a, b) => a - b);
      const cpuStepSeconds = cpuTimed[Math.floor(cpuTimed.length / 2)] ?? Number.NaN;
      const value = batch / t.median;
      const roofline = rooflineFigures({ gflopPerImage: flops / batch / 1e9, imagesPerSecond: value, peakGflops: (await measureFmaPeak({ threads: 1 })).gflops });
      const rec: BenchRecord = {
        id: recordId(c),
        value,
        unit: 'img/s',
        params: {
          model: c.model,
          imageSize: c.imageSize,
          batch,
          microBatch,
          microBatched: microBatch < batch,
          patchSize: c.options.patchSize,
          loss: 'mean(z^2)',
          optimizer: 'adam',
          quick,
          stepSeconds: t.median,
          samples: t.samples,
          cpuStepSeconds,
          cpuImagesPerSecond: batch / cpuStepSeconds,
          // against one core's FMA peak
          roofline,
        },
        backend: choice.backend,
        machine,
      };
      // The anchor is PyTorch on all cores; the comparison with it is the trainer's all-cores record
      // `train-step.<key>` (one replica per core), so this one-core record only quotes it.
      const anchor = PYTORCH_TRAIN_STEP_ANCHORS[c.key];
      if (anchor) (rec.params as Record<string, unknown>).pytorchAllCores = { value: anchor.value, source: `${PYTORCH_ANCHOR_SOURCE} (${anchor.note})` };
      const versus = anchor ? `; PyTorch on all cores ${anchor.value}` : '';
      const line = `${recordId(c)}: ${value.toFixed(2)} img/s on one core (batch ${batch}, micro-batch ${microBatch}, ${t.median.toFixed(2)} s/step${versus}); ${roofline.achievedGflops} GFLOP/s = ${(roofline.achievedFractionOfPeak * 100).toFixed(0)} % of one core's FMA peak`;
      (rec.params as Record<string, unknown>).line = line;
      records.push(rec);
      log(line);
    } finally {
      dispose();
      x.dispose();
      model.dispose();
    }
  }
  return records;
}

// Child mode: `node dist/bench.js --case <key> [--quick]` prints the case's record as one JSON line.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--case')) {
  const key = process.argv[process.argv.indexOf('--case') + 1]!;
  const [rec] = await runCases([key], { quick: process.argv.includes('--quick'), log: () => {} });
  if (!rec) throw new Error(`unknown benchmark case ${key}`);
  process.stdout.write(`${JSON.stringify(rec)}\n`);
}
