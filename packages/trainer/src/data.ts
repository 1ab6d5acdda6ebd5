/**
 * `TrainData` over @hier-ts/data: the official UniqueClassSampler (one per emulated rank, concatenated in rank order
 * so a global batch is rank 0's classes then rank 1's, spec §5.5) feeding the augmenting DataLoader.
 */
import type { ArrowDataset, AugmentSpec, SamplerState } from '@hier-ts/data';
import type { TrainConfig } from './config.js';
import type { TrainData } from './train.js';

export interface SamplerDataOptions {
  dataset: ArrowDataset;
  /** Dataset rows used for training (e.g. `dataset.indicesOf('train')`). */
  rows: Int32Array;
  augment: AugmentSpec;
  cfg: TrainConfig;
  /** Decode/augment worker threads (0: in this thread — fastest for raw pixels such as Fashion-MNIST). */
  workers?: number;
  prefetch?: number;
}

export async function samplerData(o: SamplerDataOptions): Promise<TrainData> {
  const { UniqueClassSampler, ShuffledSampler, createLoader } = await import('@hier-ts/data');
  const { cfg, rows, dataset } = o;
  const labels = Int32Array.from(rows, (r) => dataset.labels[r]!);
  const world = cfg.devices;
  // Per-rank samplers reproduce the official 2-GPU layout exactly (each rank draws its own classes' images from
  // the shared stream); when a replica's slice cannot hold whole classes, one sampler draws the global batch.
  const perRankLayout = cfg.batch_size % Math.max(1, cfg.IPC) === 0;
  const samplerWorld = perRankLayout ? world : 1;
  const samplers =
    cfg.IPC > 0
      ? Array.from(
          { length: samplerWorld },
          (_, rank) => new UniqueClassSampler({ labels, batchSize: (cfg.batch_size * world) / samplerWorld, imagesPerClass: cfg.IPC, worldSize: samplerWorld, rank, seed: cfg.seed }),
        )
      : [];
  const shuffled = cfg.IPC > 0 ? null : new ShuffledSampler({ size: rows.length, batchSize: cfg.batch_size * world, seed: cfg.seed, dropLast: true });
  const classes = new Set(labels).size;
  let pendingState: SamplerState | null = null;
  return {
    numTrainImages: rows.length,
    numClasses: classes,
    state: () => (samplers[0] ? samplers[0].state() : null),
    restore: (s: unknown) => {
      pendingState = s as SamplerState | null;
    },
    async *batches(epoch: number, start: number, iters: number) {
      if (pendingState) for (const s of samplers) s.setState(pendingState);
      pendingState = null;
      let global: Int32Array[];
      if (shuffled) global = shuffled.epoch(epoch);
      else {
        const perRank = samplers.map((s) => s.epoch(epoch));
        const rows = (cfg.batch_size * world) / samplerWorld;
        global = perRank[0]!.map((_, b) => {
          const out = new Int32Array(cfg.batch_size * world);
          for (let k = 0; k < perRank.length; k++) out.set(perRank[k]![b]!, k * rows);
          return out;
        });
      }
      const selected = global.slice(start, iters).map((b) => Int32Array.from(b, (p) => rows[p]!));
      const loader = createLoader({ dataset, batches: selected, augment: o.augment, seed: (cfg.seed * 100_003 + epoch) >>> 0, workers: o.workers ?? 0, prefetch: o.prefetch });
      try {
        for await (const b of loader) yield b;
      } finally {
        await loader.close();
      }
    },
  };
}
