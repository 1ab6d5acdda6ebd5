/**
 * Connects an ingested Arrow dataset (@hier-ts/data) to the trainer (which rows train, with which augmentation and
 * how many loader threads) and to the evaluator (`EvalSource`: evaluation splits in order with the evaluation
 * transform). No pixels or labels are invented here; this only picks rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { ArrowDataset, AugmentSpec, Batch } from '@hier-ts/data';
import type { TrainConfig } from '@hier-ts/trainer';

export type DatasetName = 'CUB' | 'Cars' | 'SOP' | 'Inshop' | 'FashionMNIST';

/** The evaluation splits each dataset's protocol uses, with the query/gallery pair for In-shop. */
export interface EvalPlan {
  protocol: 'cub' | 'cars' | 'sop' | 'inshop' | 'fmnist';
  /** Leave-one-out splits in report order; the first is the headline (its metrics are unprefixed). */
  splits: string[];
  /** In-shop: query and gallery split names. */
  pair?: { query: string; gallery: string };
  /** Extra column holding coarse labels, when the dataset has a class hierarchy. */
  coarseColumn?: string;
}

export function evalPlan(dataset: string): EvalPlan {
  switch (dataset) {
    case 'FashionMNIST':
      return { protocol: 'fmnist', splits: ['unseen', 'seen'], coarseColumn: 'coarse_label' };
    case 'CUB':
      return { protocol: 'cub', splits: ['test'] };
    case 'Cars':
      return { protocol: 'cars', splits: ['test'] };
    case 'SOP':
      return { protocol: 'sop', splits: ['test'], coarseColumn: 'super_class_id' };
    case 'Inshop':
      return { protocol: 'inshop', splits: [], pair: { query: 'query', gallery: 'gallery' } };
    default:
      throw new HierError('E_DATASET', `no evaluation protocol for dataset '${dataset}'`);
  }
}

/**
 * Resolves `--data_path` to an Arrow file: an Arrow file is used as is; a dataset folder is ingested once into
 * `<cacheDir>/<dataset>.arrow` (a no-op when that file is already complete for the same source and settings).
 */
export async function resolveArrow(dataset: string, dataPath: string, cacheDir: string, log: (line: string) => void): Promise<string> {
  const st = fs.statSync(dataPath, { throwIfNoEntry: false });
  if (!st) throw new HierError('E_PATH', `--data_path ${dataPath} does not exist`);
  if (st.isFile()) return path.resolve(dataPath);
  const { ingestDataset } = await import('@hier-ts/data');
  const out = path.join(cacheDir, `${dataset}.arrow`);
  log(`ingesting ${dataset} from ${dataPath} into ${out} (once; later runs reuse it)`);
  const r = await ingestDataset({ dataset: dataset as DatasetName, dataPath, out, progressBar: true, log });
  if (r.skipped.length) log(`warning: ${r.skipped.length} unreadable image(s) were skipped (first: ${r.skipped[0]!.path}: ${r.skipped[0]!.reason})`);
  return out;
}

export async function openArrow(file: string, dataset: string): Promise<ArrowDataset> {
  const { openDataset } = await import('@hier-ts/data');
  const ds = await openDataset(file, { mode: 'auto' });
  if (ds.info.dataset !== dataset) {
    await ds.close();
    throw new HierError('E_DATASET', `${file} holds the ${ds.info.dataset} dataset but --dataset is ${dataset}`);
  }
  return ds;
}

export function augmentFor(dataset: string, cfg: Pick<TrainConfig, 'model' | 'image_size' | 'resize_size' | 'crop_size'>, mode: 'train' | 'eval', data: typeof import('@hier-ts/data')): AugmentSpec {
  if (dataset === 'FashionMNIST') return mode === 'train' ? data.fashionMnistTrainAugment() : data.fashionMnistEvalAugment();
  return mode === 'train' ? data.trainAugment(cfg.model, cfg.image_size) : data.evalAugment(cfg.model, cfg.resize_size, cfg.crop_size);
}

export function loaderWorkers(ds: ArrowDataset, cfg: Pick<TrainConfig, 'num_workers' | 'devices'>): number {
  // Raw-pixel files (Fashion-MNIST) decode faster in-process than a worker round trip.
  if (ds.info.imageFormat === 'raw') return 0;
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  return Math.max(1, Math.min(cfg.num_workers, Math.floor(cores / Math.max(1, cfg.devices))));
}

/** An evaluation split as @hier-ts/eval's `EvalSource`: every row once, `indices` = position in the split. */
export async function evalSource(
  ds: ArrowDataset,
  split: string,
  cfg: Pick<TrainConfig, 'model' | 'image_size' | 'resize_size' | 'crop_size'>,
  coarseColumn?: string,
  limit?: number,
): Promise<{ name: string; rows: Int32Array; coarseLabels?: Int32Array; batches(): AsyncIterable<Batch> }> {
  const data = await import('@hier-ts/data');
  let rows = ds.indicesOf(split);
  if (rows.length === 0) throw new HierError('E_DATASET', `${ds.info.file} has no rows with split '${split}'`);
  if (limit !== undefined && limit < rows.length) rows = rows.slice(0, limit);
  const augment = augmentFor(ds.info.dataset, cfg, 'eval', data);
  const position = new Map<number, number>();
  for (let i = 0; i < rows.length; i++) position.set(rows[i]!, i);
  const col = coarseColumn ? ds.extra[coarseColumn] : undefined;
  const coarseLabels = col ? Int32Array.from(rows, (r) => Number(col[r])) : undefined;
  const workers = loaderWorkers(ds, { num_workers: 2, devices: 1 });
  return {
    name: split,
    rows,
    ...(coarseLabels ? { coarseLabels } : {}),
    async *batches() {
      // Large inputs keep eval batches small: a 224-px forward on wasm holds hundreds of MB per image.
      const [h, w] = data.outputShape(augment);
      const batch = h * w <= 64 * 64 ? 250 : 16;
      const loader = data.createLoader({ dataset: ds, batches: data.sequentialBatches(rows, batch), augment, workers });
      for await (const b of loader) yield { ...b, indices: Int32Array.from(b.indices, (r) => position.get(r)!) };
    },
  };
}
