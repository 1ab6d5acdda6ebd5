/**
 * Replica parts of the all-cores `train-step` benchmark: the HIER backbone + head of the config and the loss of the
 * PyTorch anchors, mean(z²) of the embeddings, so the figure compares with shared/anchors/pytorch-cpu.md. Replica
 * workers import this module by URL (`meanSquareFactorySpec`), so it must stay importable on its own.
 */
import { resolveWorkerUrl } from '@hier-ts/core';
import { type MetricLoss, tf } from '@hier-ts/engine';
import type { TrainConfig } from './config.js';
import { modelFromConfig } from './factory.js';
import type { FactoryContext, FactorySpec, ReplicaParts } from './replica.js';

/** mean(z²): no parameters, no randomness, every sample's gradient independent of the others'. */
export function meanSquareLoss(): MetricLoss {
  return {
    name: 'mean_square',
    compute: (z) => tf.tidy(() => tf.mean(tf.square(z))),
    namedVariables: () => [],
    dispose: () => {},
  };
}

export async function meanSquareFactory(cfg: TrainConfig, _ctx: FactoryContext): Promise<ReplicaParts> {
  return { model: await modelFromConfig(cfg), metric: meanSquareLoss(), hier: null };
}

export function meanSquareFactorySpec(): FactorySpec {
  return { module: resolveWorkerUrl(import.meta.url, './bench-factory.js').href, export: 'meanSquareFactory' };
}
