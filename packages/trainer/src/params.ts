/**
 * The four official parameter groups (spec §4.4) and the flat buffer layout shared by the optimiser, the
 * all-reduce and checkpoints.
 */
import { HierError } from '@hier-ts/core';
import { type EmbeddingModel, type MetricLoss, tf } from '@hier-ts/engine';
import type { TrainConfig } from './config.js';
import type { Segment } from './optim.js';
import type { GroupName } from './schedule.js';

export interface TrainableParam {
  /** Stable name used in checkpoints: `model.<name>`, `loss.<name>`, `hier.<name>`. */
  name: string;
  variable: tf.Variable;
  group: GroupName;
  lrScale: number;
}

/**
 * backbone → "pretrained_params" (×1), head → "last_layer" (×fc_lr_scale), HIER proxies → "lcas", metric-loss
 * parameters → "proxies" (their own lrScale: ×50 and ×1e4 officially).
 */
export function collectParams(
  model: EmbeddingModel,
  losses: { metric?: MetricLoss | null; hier?: MetricLoss | null },
  cfg: Pick<TrainConfig, 'fc_lr_scale'>,
): TrainableParam[] {
  const out: TrainableParam[] = [];
  for (const v of model.namedVariables()) {
    out.push({
      name: `model.${v.name}`,
      variable: v.variable,
      group: v.group === 'head' ? 'last_layer' : 'pretrained_params',
      lrScale: v.group === 'head' ? cfg.fc_lr_scale : 1,
    });
  }
  for (const v of losses.metric?.namedVariables() ?? []) out.push({ name: `loss.${v.name}`, variable: v.variable, group: 'proxies', lrScale: v.lrScale });
  for (const v of losses.hier?.namedVariables() ?? []) out.push({ name: `hier.${v.name}`, variable: v.variable, group: 'lcas', lrScale: v.lrScale });
  const seen = new Set<string>();
  for (const p of out) {
    if (seen.has(p.name)) throw new HierError('E_PARAMS', `duplicate parameter name '${p.name}'`);
    seen.add(p.name);
    if (p.variable.dtype !== 'float32') throw new HierError('E_PARAMS', `parameter ${p.name} has dtype ${p.variable.dtype}; only float32 is trainable`);
  }
  return out;
}

/** Parameters laid out back to back in one Float32Array. */
export class FlatLayout {
  readonly segments: Segment[];
  readonly size: number;

  constructor(readonly params: readonly TrainableParam[]) {
    let offset = 0;
    this.segments = params.map((p) => {
      const seg = { name: p.name, offset, size: p.variable.size };
      offset += p.variable.size;
      return seg;
    });
    this.size = offset;
  }

  /** Offsets [start, end) of the model parameters (which are all-reduced) — they come first by construction. */
  modelRange(): [number, number] {
    let end = 0;
    for (let i = 0; i < this.params.length; i++) {
      if (this.params[i]!.name.startsWith('model.')) end = this.segments[i]!.offset + this.segments[i]!.size;
    }
    return [0, end];
  }

  /** The variables' current values, into `out` (default: a new buffer). */
  async read(out: Float32Array = new Float32Array(this.size)): Promise<Float32Array> {
    if (out.length < this.size) throw new HierError('E_PARAMS', `buffer of ${out.length} floats for ${this.size} parameters`);
    for (let i = 0; i < this.params.length; i++) readInto(this.params[i]!.variable, out, this.segments[i]!.offset);
    return out;
  }

  /** Copies `flat` into the variables (one upload per variable). */
  write(flat: Float32Array): void {
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const s = this.segments[i]!;
      const t = tf.tensor(flat.subarray(s.offset, s.offset + s.size), p.variable.shape, 'float32');
      p.variable.assign(t);
      t.dispose();
    }
  }

  /**
   * Reads a gradient map (keyed by tf variable name) into `out`. A missing gradient counts as zero, unless
   * `keepMissing`, which leaves those entries of `out` as they are (to merge gradients from two sources).
   */
  async gather(grads: Record<string, tf.Tensor | undefined>, out: Float32Array = new Float32Array(this.size), keepMissing = false): Promise<Float32Array> {
    return this.gatherSync(grads, out, keepMissing);
  }

  /** `gather` without awaiting: on wasm the gradients are copied straight from the wasm heap into `out`. */
  gatherSync(grads: Record<string, tf.Tensor | undefined>, out: Float32Array = new Float32Array(this.size), keepMissing = false): Float32Array {
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const s = this.segments[i]!;
      const g = grads[p.variable.name];
      if (!g) {
        if (!keepMissing) out.fill(0, s.offset, s.offset + s.size);
        continue;
      }
      if (g.size !== s.size) throw new HierError('E_PARAMS', `gradient of ${p.name} has shape [${g.shape}] but the parameter is [${p.variable.shape}]`);
      readInto(g, out, s.offset);
    }
    return out;
  }
}

interface HeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): ArrayLike<number>;
}

/**
 * Copies a float32 tensor into out[offset…]. On wasm this is one copy out of the wasm heap (the backend's own
 * `typedArrayFromHeap` view; `data()` would copy the heap into a fresh array and `set` copy it again — for
 * ResNet-18's 45 MB of gradients per step that second copy and its garbage are measurable). Elsewhere dataSync().
 */
export function readInto(t: tf.Tensor, out: Float32Array, offset: number): void {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const b = tf.backend() as unknown as Partial<HeapBackend>;
    if (typeof b.typedArrayFromHeap === 'function') {
      let view: ArrayLike<number> | null = null;
      try {
        view = b.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
      } catch {
        view = null; // not held by this backend: fall through to dataSync
      }
      if (view instanceof Float32Array && view.length === t.size) {
        out.set(view, offset);
        return;
      }
    }
  }
  out.set(t.dataSync() as Float32Array, offset);
}
