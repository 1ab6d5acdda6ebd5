/**
 * One training run as `hier train` and `hier demo` start it: dataset → TrainData, the replica factory, the
 * evaluation callback, then @hier-ts/trainer's `train`. The run folder gets config.json (re-usable with --config),
 * the trainer's train-log.jsonl, metrics.json and checkpoints/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { ArrowDataset } from '@hier-ts/data';
import type { TrainConfig, TrainResult } from '@hier-ts/trainer';
import { writeJson } from '../common.js';
import type { HierFactoryOptions } from '@hier-ts/trainer';
import { augmentFor, loaderWorkers, openArrow, resolveArrow } from './data.js';
import { type SplitEvaluation, evaluateSplits, flattenMetrics } from './evaluation.js';

export interface SessionOptions {
  log: (line: string) => void;
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Loss lr-multiplier overrides (the demo's recipe). */
  metricLrScale?: number;
  hierLrScale?: number;
  /** Evaluate only the first `evalLimit` rows of each split. */
  evalLimit?: number;
  /** Where a dataset folder given as --data_path is ingested (default `<output_dir>/data`). */
  cacheDir?: string;
}

export interface SessionResult {
  result: TrainResult;
  /** The last evaluation (per split, with embeddings), when one ran. */
  lastEval: SplitEvaluation[] | null;
  dataset: ArrowDataset;
  arrowFile: string;
  factoryOptions: HierFactoryOptions;
}

export async function runTraining(config: TrainConfig, opts: SessionOptions): Promise<SessionResult> {
  // Absolute, so eval/embed/visualize find the data from the checkpoint's config whatever their working folder.
  const cfg: TrainConfig = { ...config, data_path: path.resolve(config.data_path) };
  const { train, validateConfig, samplerData, hierFactory, hierFactorySpec } = await import('@hier-ts/trainer');
  const outDir = path.resolve(cfg.output_dir);
  const arrowFile = await resolveArrow(cfg.dataset, cfg.data_path, opts.cacheDir ?? path.join(outDir, 'data'), opts.log);
  const ds = await openArrow(arrowFile, cfg.dataset);
  try {
    const rows = ds.indicesOf('train');
    if (rows.length === 0) throw new HierError('E_DATASET', `${arrowFile} has no rows with split 'train'`);
    const dataModule = await import('@hier-ts/data');
    const data = await samplerData({ dataset: ds, rows, augment: augmentFor(ds.info.dataset, cfg, 'train', dataModule), cfg, workers: loaderWorkers(ds, cfg) });
    validateConfig(cfg, { numClasses: data.numClasses, numTrainImages: data.numTrainImages });
    const factoryOptions: HierFactoryOptions = {
      numClasses: data.numClasses,
      inChannels: ds.info.dataset === 'FashionMNIST' ? ds.channels[rows[0]!]! : 3,
      ...(opts.metricLrScale !== undefined ? { proxyLrScale: opts.metricLrScale } : {}),
      ...(opts.hierLrScale !== undefined ? { hierLrScale: opts.hierLrScale } : {}),
    };
    fs.mkdirSync(outDir, { recursive: true });
    // A resumed run keeps the files of its start: a refused resume (changed config) must not overwrite them.
    const configFile = path.join(outDir, 'config.json');
    if (cfg.resume === null || !fs.existsSync(configFile)) {
      await writeJson(configFile, { ...cfg, resume: null });
      await writeJson(path.join(outDir, 'run.json'), { arrowFile, factoryOptions, evalLimit: opts.evalLimit ?? null, startedAt: new Date().toISOString() });
    }
    let lastEval: SplitEvaluation[] | null = null;
    const result = await train(cfg, {
      factory: hierFactorySpec(factoryOptions),
      localFactory: hierFactory,
      // The dataset stays open after training for the final report and pictures; the caller closes it.
      data: { ...data, close: () => undefined },
      evaluate: async (model) => {
        lastEval = await evaluateSplits(model, ds, cfg, { limit: opts.evalLimit, log: opts.log });
        return flattenMetrics(lastEval);
      },
      primaryMetric: 'R@1',
      log: opts.log,
      progressStream: opts.progressStream,
    });
    return { result, lastEval, dataset: ds, arrowFile, factoryOptions };
  } catch (err) {
    await ds.close();
    throw err;
  }
}
