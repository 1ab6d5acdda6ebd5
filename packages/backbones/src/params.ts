import { HierError, type Rng } from '@hier-ts/core';
import { tf, type NamedVariable, type ParamGroup } from '@hier-ts/engine';
import type { HashKind } from './hash.js';

/** How a PyTorch tensor is stored on our side: conv OIHW → HWIO, linear [out, in] → [in, out], else as is. */
export type Layout = 'conv' | 'linear' | 'plain';

export interface ParamEntry {
  /** PyTorch / timm / torchvision state_dict name. */
  name: string;
  variable: tf.Variable;
  /** Shape in PyTorch layout. */
  torchShape: number[];
  layout: Layout;
  /** hash-v1 kind, also used to pick the default init. */
  kind: HashKind;
  /** false for frozen parameters and BN running statistics. */
  trainable: boolean;
  /** BN running statistics are state, never optimised. */
  buffer: boolean;
  group: ParamGroup;
}

/**
 * Index in our (TF) layout of the element at flat index `t` of a PyTorch-layout tensor: conv OIHW → HWIO,
 * linear [out, in] → [in, out]. One mapping serves both directions of the conversion.
 */
function tfIndexMap(torchShape: readonly number[], layout: Layout): ((t: number) => number) | null {
  if (layout === 'conv') {
    const [o, i, h, w] = torchShape as [number, number, number, number];
    return (t) => {
      const x = t % w;
      const y = Math.floor(t / w) % h;
      const b = Math.floor(t / (w * h)) % i;
      const a = Math.floor(t / (w * h * i));
      return ((y * w + x) * i + b) * o + a;
    };
  }
  if (layout === 'linear') {
    const [o, i] = torchShape as [number, number];
    return (t) => (t % i) * o + Math.floor(t / i);
  }
  return null;
}

/** Converts PyTorch-layout values to our layout (a copy). */
export function torchToTf(values: Float32Array, torchShape: readonly number[], layout: Layout): { values: Float32Array; shape: number[] } {
  const map = tfIndexMap(torchShape, layout);
  if (!map) return { values: Float32Array.from(values), shape: [...torchShape] };
  const out = new Float32Array(values.length);
  for (let t = 0; t < values.length; t++) out[map(t)] = values[t]!;
  const [o, i, h, w] = torchShape as number[];
  return { values: out, shape: layout === 'conv' ? [h!, w!, i!, o!] : [i!, o!] };
}

/** The inverse of `torchToTf`. */
export function tfToTorch(values: Float32Array, torchShape: readonly number[], layout: Layout): Float32Array {
  const map = tfIndexMap(torchShape, layout);
  if (!map) return Float32Array.from(values);
  const out = new Float32Array(values.length);
  for (let t = 0; t < values.length; t++) out[t] = values[map(t)]!;
  return out;
}

/** PyTorch's default init for Conv2d/Linear weights: kaiming_uniform(a=√5) = U(±1/√fan_in); bias likewise. */
function defaultInit(shape: readonly number[], kind: HashKind, fanIn: number, rng: Rng): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  const bound = 1 / Math.sqrt(Math.max(fanIn, 1));
  switch (kind) {
    case 'weight':
    case 'bias':
      for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
      break;
    case 'ln_weight':
    case 'bn_weight':
    case 'bn_running_var':
      out.fill(1);
      break;
    case 'token':
      // timm: trunc_normal(std=0.02)
      for (let i = 0; i < n; i++) {
        let v = rng.normal() * 0.02;
        while (Math.abs(v) > 0.04) v = rng.normal() * 0.02;
        out[i] = v;
      }
      break;
    default:
      break;
  }
  return out;
}

/**
 * The variables of one network, addressed by their PyTorch names. Values live in TF layout; the PyTorch shape
 * and layout are kept so weights can be imported and exported without a name-by-name table.
 */
export class ParamStore {
  readonly entries = new Map<string, ParamEntry>();
  constructor(
    private readonly rng: Rng,
    readonly group: ParamGroup,
  ) {}

  add(name: string, torchShape: number[], layout: Layout, kind: HashKind, opts: { trainable?: boolean; fanIn?: number } = {}): tf.Variable {
    if (this.entries.has(name)) throw new HierError('E_MODEL', `parameter '${name}' defined twice`);
    const buffer = kind === 'bn_running_mean' || kind === 'bn_running_var';
    const fanIn = opts.fanIn ?? torchShape.slice(1).reduce((p, d) => p * d, 1);
    const init = defaultInit(torchShape, kind, fanIn, this.rng);
    const { values, shape } = torchToTf(init, torchShape, layout);
    const trainable = !buffer && (opts.trainable ?? true);
    const initial = tf.tensor(values, shape, 'float32');
    const variable = tf.variable(initial, trainable);
    initial.dispose();
    this.entries.set(name, { name, variable, torchShape, layout, kind, trainable, buffer, group: this.group });
    return variable;
  }

  get(name: string): tf.Variable {
    const e = this.entries.get(name);
    if (!e) throw new HierError('E_MODEL', `no parameter '${name}'`);
    return e.variable;
  }

  trainable(): (NamedVariable & { group: ParamGroup })[] {
    return [...this.entries.values()].filter((e) => e.trainable).map((e) => ({ name: e.name, variable: e.variable, group: e.group }));
  }

  all(): NamedVariable[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, variable: e.variable }));
  }

  /** Assigns PyTorch-layout values (already validated by the caller). */
  assignTorch(name: string, values: Float32Array): void {
    const e = this.entries.get(name);
    if (!e) throw new HierError('E_MODEL', `no parameter '${name}'`);
    const conv = torchToTf(values, e.torchShape, e.layout);
    const t = tf.tensor(conv.values, conv.shape, 'float32');
    e.variable.assign(t);
    t.dispose();
  }

  async readTorch(name: string): Promise<Float32Array> {
    const e = this.entries.get(name);
    if (!e) throw new HierError('E_MODEL', `no parameter '${name}'`);
    const v = (await e.variable.data()) as Float32Array;
    return tfToTorch(v, e.torchShape, e.layout);
  }

  dispose(): void {
    for (const e of this.entries.values()) e.variable.dispose();
    this.entries.clear();
  }
}
