/**
 * Rebuilds a trained model from a checkpoint folder written by @hier-ts/trainer (for eval, embed, visualize): the
 * config stored in state.json rebuilds the same architecture, then the saved model state is assigned.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HierError, Rng } from '@hier-ts/core';
import type { EmbeddingModel } from '@hier-ts/engine';
import type { Matrix } from '@hier-ts/eval';
import type { HierFactoryOptions, TrainConfig } from '@hier-ts/trainer';
import { readJson } from '../common.js';
import { proxiesInBall } from './pictures.js';

export interface RestoredRun {
  checkpointDir: string;
  /** The run folder (parent of checkpoints/) when the checkpoint sits in one. */
  runDir: string | null;
  config: TrainConfig;
  model: EmbeddingModel;
  /** HIER proxies mapped into the ball, when the run trained them. */
  proxies: Matrix | null;
  epoch: number;
}

/** A checkpoint folder, or a run folder (then checkpoints/best, else checkpoints/last). */
export function findCheckpoint(arg: string): string {
  if (!fs.existsSync(arg)) throw new HierError('E_PATH', `--checkpoint ${arg} does not exist`);
  for (const dir of [arg, path.join(arg, 'checkpoints', 'best'), path.join(arg, 'checkpoints', 'last'), path.join(arg, 'best'), path.join(arg, 'last')]) {
    if (fs.existsSync(path.join(dir, 'state.json'))) return dir;
  }
  throw new HierError('E_PATH', `--checkpoint ${arg} is neither a checkpoint folder (state.json + weights.safetensors) nor a run folder with checkpoints/best or checkpoints/last`);
}

export async function restoreRun(arg: string): Promise<RestoredRun> {
  const { loadCheckpoint, hierFactory } = await import('@hier-ts/trainer');
  const { tf } = await import('@hier-ts/engine');
  const dir = findCheckpoint(arg);
  const ckpt = await loadCheckpoint(dir);
  const cfg = ckpt.state.config;
  const tensors = ckpt.replica.tensors;
  const runDir = path.basename(path.dirname(dir)) === 'checkpoints' ? path.dirname(path.dirname(dir)) : null;
  const runJson = runDir ? path.join(runDir, 'run.json') : null;
  let options: HierFactoryOptions;
  if (runJson && fs.existsSync(runJson)) {
    options = readJson<{ factoryOptions: HierFactoryOptions }>(runJson, 'run description').factoryOptions;
  } else {
    // Without run.json: the class count is the metric loss's proxy count, the input channels the dataset's.
    const proxyKey = Object.keys(tensors).find((k) => k.startsWith('loss.'));
    options = { numClasses: proxyKey ? tensors[proxyKey]!.shape[0]! : 1, inChannels: cfg.dataset === 'FashionMNIST' ? 1 : 3 };
  }
  // Only the model is needed: building the losses would allocate proxies for nothing.
  const parts = await hierFactory({ ...cfg, lambda1: 0, lambda2: 0, load_from: null }, { rank: 0, size: 1, lossRng: new Rng(cfg.seed), options });
  for (const v of parts.model.stateVariables()) {
    const t = tensors[`model.${v.name}`];
    if (!t) throw new HierError('E_CHECKPOINT', `${dir} lacks model tensor '${v.name}' for ${cfg.model}`);
    if (t.data.length !== v.variable.size) {
      throw new HierError('E_CHECKPOINT', `${dir}: tensor '${v.name}' has shape [${t.shape}], ${cfg.model} expects [${v.variable.shape}]`);
    }
    const x = tf.tensor(t.data, v.variable.shape, 'float32');
    v.variable.assign(x);
    x.dispose();
  }
  const lcasKey = Object.keys(tensors).find((k) => k.startsWith('hier.') && k.endsWith('lcas'));
  const proxies = lcasKey && cfg.hyp_c > 0 ? proxiesInBall(tensors[lcasKey]!.data, tensors[lcasKey]!.shape[1]!, cfg.hyp_c, cfg.clip_r) : null;
  return { checkpointDir: dir, runDir, config: cfg, model: parts.model, proxies, epoch: ckpt.state.epoch };
}
