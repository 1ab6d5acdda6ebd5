/**
 * Optimisers with PyTorch semantics over flat Float32Arrays. The trainer keeps one flat copy of all trainable
 * parameters because data-parallel replicas exchange gradients as one buffer anyway; running the update in JS on
 * the same averaged buffer makes every replica bitwise identical without a parameter broadcast.
 */
import { HierError } from '@hier-ts/core';

export type OptimizerKind = 'adamw' | 'adam' | 'sgd';

export interface OptimizerOptions {
  kind: OptimizerKind;
  weightDecay: number;
  /** Adam/AdamW eps (official: 1e-4 with fp16). */
  eps?: number;
  betas?: [number, number];
  /** SGD momentum (official 0.9). */
  momentum?: number;
}

/** A contiguous run of the flat buffer that shares one learning rate (one parameter tensor). */
export interface Segment {
  name: string;
  offset: number;
  size: number;
}

export interface OptimizerState {
  kind: OptimizerKind;
  /** Steps taken (PyTorch `state['step']`, identical for every parameter here). */
  step: number;
  /** Moment buffers over the flat layout: adam(w) `exp_avg`, `exp_avg_sq`; sgd `momentum_buffer`. */
  slots: Record<string, Float32Array>;
}

export class FlatOptimizer {
  readonly kind: OptimizerKind;
  private readonly wd: number;
  private readonly eps: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly momentum: number;
  private stepCount = 0;
  private readonly slots: Record<string, Float32Array>;

  constructor(
    readonly size: number,
    opts: OptimizerOptions,
  ) {
    if (!['adamw', 'adam', 'sgd'].includes(opts.kind)) throw new HierError('E_OPTIM', `unknown optimizer '${opts.kind}'`);
    this.kind = opts.kind;
    this.wd = opts.weightDecay;
    this.eps = opts.eps ?? 1e-8;
    [this.b1, this.b2] = opts.betas ?? [0.9, 0.999];
    this.momentum = opts.momentum ?? 0.9;
    this.slots =
      this.kind === 'sgd'
        ? { momentum_buffer: new Float32Array(size) }
        : { exp_avg: new Float32Array(size), exp_avg_sq: new Float32Array(size) };
  }

  get steps(): number {
    return this.stepCount;
  }

  /**
   * One update of `params` in place. `lr[i]` is the learning rate of segment i (0 freezes it: AdamW's moments and
   * step count still advance, the warmup behaviour of the official code, spec §4.4).
   */
  step(params: Float32Array, grads: Float32Array, segments: readonly Segment[], lr: ArrayLike<number>): void {
    if (params.length !== this.size || grads.length !== this.size) {
      throw new HierError('E_OPTIM', `optimizer built for ${this.size} parameters got params ${params.length} / grads ${grads.length}`);
    }
    if (lr.length !== segments.length) throw new HierError('E_OPTIM', `${segments.length} segments but ${lr.length} learning rates`);
    this.stepCount++;
    const t = this.stepCount;
    const { b1, b2, eps, wd } = this;
    if (this.kind === 'sgd') {
      const buf = this.slots.momentum_buffer!;
      const mom = this.momentum;
      const first = t === 1;
      for (let s = 0; s < segments.length; s++) {
        const { offset, size } = segments[s]!;
        const a = lr[s]!;
        for (let i = offset; i < offset + size; i++) {
          const g = grads[i]! + wd * params[i]!;
          // torch: the buffer starts as a copy of the first gradient (no dampening)
          const b = first ? g : mom * buf[i]! + g;
          buf[i] = b;
          params[i] = params[i]! - a * b;
        }
      }
      return;
    }
    const m = this.slots.exp_avg!;
    const v = this.slots.exp_avg_sq!;
    const bc1 = 1 - b1 ** t;
    const sqrtBc2 = Math.sqrt(1 - b2 ** t);
    const decoupled = this.kind === 'adamw';
    for (let s = 0; s < segments.length; s++) {
      const { offset, size } = segments[s]!;
      const a = lr[s]!;
      const stepSize = a / bc1;
      const decay = 1 - a * wd;
      for (let i = offset; i < offset + size; i++) {
        let p = params[i]!;
        let g = grads[i]!;
        if (decoupled) p *= decay;
        else g += wd * p;
        const mi = b1 * m[i]! + (1 - b1) * g;
        const vi = b2 * v[i]! + (1 - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        // eps after the bias correction of v, as torch 1.8
        params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      }
    }
  }

  state(): OptimizerState {
    const slots: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(this.slots)) slots[k] = v.slice();
    return { kind: this.kind, step: this.stepCount, slots };
  }

  load(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new HierError('E_RESUME', `checkpoint optimizer is ${state.kind}, config asks for ${this.kind} (--optimizer)`);
    for (const [k, v] of Object.entries(this.slots)) {
      const src = state.slots[k];
      if (!src || src.length !== v.length) {
        throw new HierError('E_RESUME', `optimizer slot ${k}: checkpoint has ${src?.length ?? 0} values, model has ${v.length} parameters`);
      }
      v.set(src);
    }
    this.stepCount = state.step;
  }
}

/** Official clip_gradients_value: every element clamped to [-limit, limit] (NaN stays NaN so it is detected). */
export function clampGradients(grads: Float32Array, limit = 10): void {
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i]!;
    if (g > limit) grads[i] = limit;
    else if (g < -limit) grads[i] = -limit;
  }
}
