import os from 'node:os';

/** One benchmark figure, as `pnpm bench` collects them into bench-results/latest.json. */
export interface BenchRecord {
  /** Stable id named by the issue, e.g. `hier-loss.fwd-bwd.b90.d128`. */
  id: string;
  value: number;
  unit: string;
  params: Record<string, unknown>;
  backend: string;
  machine?: MachineInfo;
  /** Reference figure (PyTorch anchor on this CPU) and our value divided by it, when one exists. */
  anchor?: { value: number; source: string };
  ratio?: number;
  /** Target from the issue, for the table. */
  target?: string;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Median of `runs` timed calls after `warmup` untimed ones, in seconds. */
export async function timeMedian(fn: () => unknown | Promise<unknown>, runs = 5, warmup = 1): Promise<{ median: number; min: number; samples: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, samples };
}

/** Where the PyTorch CPU anchors come from (the shared anchors folder beside the project). */
export const PYTORCH_ANCHOR_SOURCE = 'shared/anchors/pytorch-cpu.md';

/**
 * PyTorch's training step (forward + backward + AdamW, loss mean(z²), best thread configuration on the anchors'
 * 2-vCPU machine) in images/s, by the `train-step` record key `<model>.<size>.b<batch>`. Shared by the one-core
 * figure (@hier-ts/backbones) and the all-cores figure (@hier-ts/trainer, one replica per core).
 */
export const PYTORCH_TRAIN_STEP_ANCHORS: Readonly<Record<string, { value: number; note: string }>> = {
  'resnet18.64.b64': { value: 274, note: 'ResNet-18@64 b64, threads=2, OPENBLAS_NUM_THREADS=1' },
  'vit_tiny.64.b64': { value: 65, note: 'ViT-Ti/8@64 b64, threads=1' },
  'resnet50.224.b16': { value: 8.3, note: 'ResNet-50@224 b16, threads=2' },
  'vit_small.224.b16': { value: 6.8, note: 'ViT-S/16@224 b16, threads=1' },
};

/**
 * Every package that has benchmarks exports, from `dist/bench.js`, `runBenchmarks(options)` returning
 * records. `quick` asks for a short run (CI smoke), not for different ids.
 */
export type BenchmarkModule = { runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> };
