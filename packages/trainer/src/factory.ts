/**
 * The HIER recipe's replica factory over the real packages: a backbone + head from @hier-ts/backbones and the
 * metric loss (+ HIER) from @hier-ts/losses, configured from the official flags. Workers import this module by
 * URL (`hierFactorySpec`), so it must stay importable on its own.
 */
import { Rng, resolveWorkerUrl } from '@hier-ts/core';
import type { EmbeddingModel, MetricLoss } from '@hier-ts/engine';
import type { TrainConfig } from './config.js';
import type { FactoryContext, FactorySpec, ReplicaParts } from './replica.js';

export interface HierFactoryOptions {
  /** Training classes (PA/PNCA/SoftTriple proxies). */
  numClasses: number;
  /** Image channels (3; Fashion-MNIST 1). */
  inChannels?: number;
  /** PA/PNCA/SoftTriple proxy lr scale (official 1e4). */
  proxyLrScale?: number;
  /** HIER proxy lr scale (official 50). */
  hierLrScale?: number;
}

/** The backbone + head a config asks for (weights from `load_from` when set): the model of every replica factory. */
export async function modelFromConfig(cfg: TrainConfig, inChannels?: number): Promise<EmbeddingModel> {
  const { createModel, loadWeights } = await import('@hier-ts/backbones');
  const model = createModel(cfg.model, {
    imageSize: cfg.image_size,
    patchSize: cfg.model === 'vit_tiny' ? cfg.patch_size : undefined,
    inChannels,
    embeddingDim: cfg.emb,
    hypC: cfg.hyp_c,
    clipR: cfg.clip_r,
    lastNorm: cfg.use_lastnorm,
    seed: cfg.seed,
    // bn_freeze is a ResNet flag (spec §4.3); cnn4 keeps train-mode BN as the Fashion-MNIST reference does.
    bnFreeze: cfg.model.startsWith('resnet') ? cfg.bn_freeze : undefined,
  });
  if (cfg.load_from) loadWeights(model, cfg.load_from);
  return model;
}

export async function hierFactory(cfg: TrainConfig, ctx: FactoryContext): Promise<ReplicaParts> {
  const o = ctx.options as HierFactoryOptions;
  const model = await modelFromConfig(cfg, o.inChannels);
  const { createMetricLoss, createHierLoss } = await import('@hier-ts/losses');
  const mining = ctx.lossRng;
  const gumbel = new Rng(cfg.seed + 1);
  let metric: MetricLoss | null = null;
  if (cfg.lambda1 > 0) {
    metric = createMetricLoss(cfg.loss as never, {
      numClasses: o.numClasses,
      dim: cfg.emb,
      rng: new Rng(cfg.seed + 2),
      c: cfg.hyp_c,
      ipc: cfg.IPC,
      ...(o.proxyLrScale !== undefined ? { lrScale: o.proxyLrScale } : {}),
    });
  }
  const hier =
    cfg.lambda2 > 0
      ? createHierLoss({
          numProxies: cfg.num_hproxies,
          dim: cfg.emb,
          margin: cfg.mrg,
          c: cfg.hyp_c,
          clipR: cfg.clip_r,
          topk: cfg.topk,
          rng: mining,
          gumbel: { kind: 'rng', rng: gumbel },
          ...(o.hierLrScale !== undefined ? { lrScale: o.hierLrScale } : {}),
        })
      : null;
  return { model, metric, hier, lossRng: [mining, gumbel] };
}

/** Where replica workers find `hierFactory` (the compiled module beside this one). */
export function hierFactorySpec(options: HierFactoryOptions): FactorySpec {
  return { module: resolveWorkerUrl(import.meta.url, './factory.js').href, export: 'hierFactory', options };
}
