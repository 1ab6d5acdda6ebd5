/**
 * The replica factory the trainer's workers import (compiled to dist/wiring/factory.js): it turns a TrainConfig into
 * the real model (@hier-ts/backbones) and losses (@hier-ts/losses). Every replica calls it with the same arguments,
 * so all start from identical parameters.
 */
import { HierError, Rng } from '@hier-ts/core';
import type { EmbeddingModel, MetricLoss } from '@hier-ts/engine';
import type { TrainConfig } from '@hier-ts/trainer';

export interface FactoryOptions {
  /** Training classes (proxy count of PA / PNCA / SoftTriple). */
  numClasses: number;
  /** 1 for grey datasets (Fashion-MNIST with cnn4), else 3. */
  inChannels: number;
  /** Overrides of the official loss lr multipliers (PA proxies ×1e4, HIER proxies ×50); the demo uses them. */
  metricLrScale?: number;
  hierLrScale?: number;
}

export interface BuiltParts {
  model: EmbeddingModel;
  metric: MetricLoss | null;
  hier: MetricLoss | null;
  lossRng?: Rng;
}

/** Seed offset of the metric-loss proxy init, so it does not replay the model's init stream. */
const METRIC_INIT_STREAM = 0x6d657472;

export function checkFactoryOptions(o: unknown): FactoryOptions {
  const opts = o as Partial<FactoryOptions> | undefined;
  if (!opts || !Number.isInteger(opts.numClasses) || (opts.numClasses ?? 0) < 1 || !Number.isInteger(opts.inChannels)) {
    throw new HierError('E_FACTORY', `replica factory needs options {numClasses >= 1, inChannels}, got ${JSON.stringify(o)}`);
  }
  return opts as FactoryOptions;
}

export async function buildReplica(cfg: TrainConfig, ctx: { rank: number; size: number; lossRng: Rng; options?: unknown }): Promise<BuiltParts> {
  const o = checkFactoryOptions(ctx.options);
  const { createModel } = await import('@hier-ts/backbones');
  const { createMetricLoss, createHierLoss } = await import('@hier-ts/losses');
  const model = createModel(cfg.model, {
    imageSize: cfg.image_size,
    ...(cfg.model === 'vit_tiny' ? { patchSize: cfg.patch_size } : {}),
    inChannels: o.inChannels,
    embeddingDim: cfg.emb,
    hypC: cfg.hyp_c,
    clipR: cfg.clip_r,
    lastNorm: cfg.use_lastnorm,
    seed: cfg.seed,
    bnFreeze: cfg.bn_freeze,
  });
  const metric =
    cfg.lambda1 > 0
      ? createMetricLoss(cfg.loss as Parameters<typeof createMetricLoss>[0], {
          numClasses: o.numClasses,
          dim: cfg.emb,
          rng: new Rng((cfg.seed ^ METRIC_INIT_STREAM) >>> 0),
          c: cfg.hyp_c,
          ipc: cfg.IPC,
          ...(o.metricLrScale !== undefined ? { lrScale: o.metricLrScale } : {}),
        })
      : null;
  const hier =
    cfg.lambda2 > 0
      ? createHierLoss({
          numProxies: cfg.num_hproxies,
          dim: cfg.emb,
          c: cfg.hyp_c,
          clipR: cfg.clip_r,
          margin: cfg.mrg,
          topk: cfg.topk,
          rng: ctx.lossRng,
          ...(o.hierLrScale !== undefined ? { lrScale: o.hierLrScale } : {}),
        })
      : null;
  return { model, metric, hier, lossRng: ctx.lossRng };
}
