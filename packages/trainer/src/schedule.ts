/**
 * Learning-rate rule of train.py (spec §5.3): every iteration, each parameter group gets
 * lr_g(it) = lr · (batch_size · world / lr_batch_ref) · scale_g · schedule[it], and the backbone group gets 0 while
 * epoch < warmup_epochs (a freeze, not a ramp).
 */
import { HierError } from '@hier-ts/core';
import type { TrainConfig } from './config.js';

export type ScheduleKind = { kind: 'constant' } | { kind: 'step'; everyEpochs: number; gamma: number } | { kind: 'cosine'; final: number };

export function scheduleFromConfig(cfg: Pick<TrainConfig, 'lr_decay' | 'lr_decay_gamma' | 'min_lr_scale'>): ScheduleKind {
  if (cfg.lr_decay === null) return { kind: 'constant' };
  if (cfg.lr_decay === 'cosine') return { kind: 'cosine', final: cfg.min_lr_scale };
  const k = Number(cfg.lr_decay);
  if (!Number.isInteger(k) || k <= 0) throw new HierError('E_CONFIG', `--lr_decay: expected 'cosine' or a positive integer, got '${cfg.lr_decay}'`);
  if (cfg.lr_decay_gamma === null) throw new HierError('E_CONFIG', `--lr_decay_gamma is required with --lr_decay ${k}`);
  return { kind: 'step', everyEpochs: k, gamma: cfg.lr_decay_gamma };
}

/** schedule[it] for a run of `totalIters` iterations with `itersPerEpoch` per epoch. */
export function scheduleFactor(s: ScheduleKind, it: number, itersPerEpoch: number, totalIters: number): number {
  switch (s.kind) {
    case 'constant':
      return 1;
    case 'step':
      return s.gamma ** Math.floor(it / (s.everyEpochs * itersPerEpoch));
    case 'cosine':
      return s.final + 0.5 * (1 - s.final) * (1 + Math.cos((Math.PI * it) / totalIters));
  }
}

/** lr · (per-replica batch · world size / reference batch): the official linear scaling by 180. */
export function baseLr(cfg: Pick<TrainConfig, 'lr' | 'batch_size' | 'devices' | 'lr_batch_ref'>): number {
  // batch_size x devices is the global batch whether the world is real or emulated (emulate_world_size only
  // rescales gradients), so the official factor batch_size x world_size / 180 is this.
  return (cfg.lr * cfg.batch_size * cfg.devices) / cfg.lr_batch_ref;
}

export type GroupName = 'pretrained_params' | 'last_layer' | 'lcas' | 'proxies';

/** The per-group lr at global iteration `it` (0-based over the whole run). */
export function groupLr(
  cfg: TrainConfig,
  group: GroupName,
  lrScale: number,
  it: number,
  itersPerEpoch: number,
  schedule: ScheduleKind = scheduleFromConfig(cfg),
): number {
  const epoch = Math.floor(it / itersPerEpoch);
  if (group === 'pretrained_params' && epoch < cfg.warmup_epochs) return 0;
  return baseLr(cfg) * lrScale * scheduleFactor(schedule, it, itersPerEpoch, cfg.epochs * itersPerEpoch);
}
