/**
 * Collectives between replicas, built for a ZeRO-1 style update: gradients are reduce-scattered (replica r sums
 * only its shard of the flat vector), each replica updates only its shard of the parameters and optimiser
 * moments, and the updated shards are all-gathered.
 * - Threads: SharedArrayBuffers and an Atomics barrier. Every replica writes its gradients straight into its own
 *   slot of one shared buffer (read from the wasm heap, no intermediate copy), averages its shard of all slots in
 *   place, and updates its shard of ONE shared parameter buffer, so the all-gather is a barrier: no copies at all.
 * - Processes: the parent is a hub on a loopback socket; replicas send their gradients and receive the mean of
 *   their shard, then send their updated shard and receive the concatenation (a star rather than a ring: simpler,
 *   and with 2-4 replicas the hub link is not the bottleneck).
 * Every wait has a timeout and an abort flag, so a dead replica ends the run with an error instead of a hang.
 */
import { HierError } from '@hier-ts/core';
import type { Collective } from './replica.js';

/** ctrl layout: [arrived, generation, abort, unused, flag of replica 0, flag of replica 1, …] */
export const CTRL_ARRIVED = 0;
export const CTRL_GENERATION = 1;
export const CTRL_ABORT = 2;
export const CTRL_FLAGS = 4;

/** Int32 words of the control buffer for `size` replicas. */
export function ctrlWords(size: number): number {
  return CTRL_FLAGS + size;
}

/**
 * The shard [lo, hi) of a flat vector of n floats that replica `rank` of `size` reduces and updates: equal
 * contiguous parts, boundaries on 16-float (64-byte) multiples so two replicas never write the same cache line.
 */
export function shardRange(n: number, rank: number, size: number): [number, number] {
  const chunk = Math.ceil(n / size / 16) * 16;
  const lo = Math.min(n, rank * chunk);
  return [lo, Math.min(n, lo + chunk)];
}

/** Smallest non-negative value (-1 when none): the first non-finite gradient index any replica found. */
export function firstIndex(values: readonly number[]): number {
  let m = -1;
  for (const v of values) if (v >= 0 && (m < 0 || v < m)) m = v;
  return m;
}

export interface SabBuffers {
  /** Int32 × ctrlWords(size). */
  ctrl: SharedArrayBuffer;
  /** Embedding all-gather: `gatherSlot` floats per replica. */
  gather: SharedArrayBuffer;
  gatherSlot: number;
  /** Gradients: `n` floats per replica, replica r's at r·n. */
  grads: SharedArrayBuffer;
  /** The flat parameters, one copy shared by all replicas. */
  params: SharedArrayBuffer;
  /** Trainable parameters (floats of the flat vector). */
  n: number;
}

export class SabCollective implements Collective {
  private readonly ctrl: Int32Array;
  private readonly gatherData: Float32Array;
  private readonly gatherSlot: number;
  private readonly slots: Float32Array[];
  private readonly params: Float32Array;
  private readonly n: number;

  constructor(
    readonly rank: number,
    readonly size: number,
    buffers: SabBuffers,
    private readonly timeoutMs: number,
  ) {
    this.ctrl = new Int32Array(buffers.ctrl);
    if (this.ctrl.length < ctrlWords(size)) throw new HierError('E_REPLICA', `control buffer holds ${this.ctrl.length} words, need ${ctrlWords(size)}`);
    this.gatherData = new Float32Array(buffers.gather);
    this.gatherSlot = buffers.gatherSlot;
    if (this.gatherData.length < this.gatherSlot * size) throw new HierError('E_REPLICA', `gather buffer holds ${this.gatherData.length} floats, need ${this.gatherSlot * size}`);
    this.n = buffers.n;
    if (buffers.grads.byteLength < this.n * size * 4) throw new HierError('E_REPLICA', `gradient buffer holds ${buffers.grads.byteLength / 4} floats, need ${this.n * size}`);
    if (buffers.params.byteLength < this.n * 4) throw new HierError('E_REPLICA', `parameter buffer holds ${buffers.params.byteLength / 4} floats, need ${this.n}`);
    this.slots = Array.from({ length: size }, (_, r) => new Float32Array(buffers.grads, r * this.n * 4, this.n));
    this.params = new Float32Array(buffers.params, 0, this.n);
  }

  private barrier(): void {
    const c = this.ctrl;
    const gen = Atomics.load(c, CTRL_GENERATION);
    if (Atomics.add(c, CTRL_ARRIVED, 1) === this.size - 1) {
      Atomics.store(c, CTRL_ARRIVED, 0);
      Atomics.add(c, CTRL_GENERATION, 1);
      Atomics.notify(c, CTRL_GENERATION);
      return;
    }
    const t0 = Date.now();
    while (Atomics.load(c, CTRL_GENERATION) === gen) {
      if (Atomics.load(c, CTRL_ABORT) !== 0) throw new HierError('E_REPLICA', `replica ${this.rank}: run aborted (another replica failed)`);
      if (Date.now() - t0 > this.timeoutMs) {
        throw new HierError('E_REPLICA', `replica ${this.rank}: timed out after ${this.timeoutMs} ms waiting for the other replicas`);
      }
      Atomics.wait(c, CTRL_GENERATION, gen, 200);
    }
  }

  async allGather(z: Float32Array, labels: Int32Array): Promise<{ z: Float32Array; labels: Int32Array }> {
    return this.allGatherSync(z, labels);
  }

  /**
   * Blocking all-gather (Atomics.wait is allowed in worker threads). Being synchronous, it can run inside a taped
   * tfjs function, which lets a thread replica embed, gather and compute the loss in one forward pass.
   */
  allGatherSync(z: Float32Array, labels: Int32Array): { z: Float32Array; labels: Int32Array } {
    const need = z.length + labels.length;
    if (need > this.gatherSlot) throw new HierError('E_REPLICA', `all-gather of ${need} floats exceeds the ${this.gatherSlot}-float slot`);
    const d = this.gatherData;
    const base = this.rank * this.gatherSlot;
    d.set(z, base);
    for (let i = 0; i < labels.length; i++) d[base + z.length + i] = labels[i]!;
    this.barrier();
    const allZ = new Float32Array(z.length * this.size);
    const allY = new Int32Array(labels.length * this.size);
    for (let r = 0; r < this.size; r++) {
      const b = r * this.gatherSlot;
      allZ.set(d.subarray(b, b + z.length), r * z.length);
      for (let i = 0; i < labels.length; i++) allY[r * labels.length + i] = d[b + z.length + i]!;
    }
    this.barrier();
    return { z: allZ, labels: allY };
  }

  gradientBuffer(n: number): Float32Array {
    if (n !== this.n) throw new HierError('E_REPLICA', `gradient buffer built for ${this.n} parameters, replica has ${n}`);
    return this.slots[this.rank]!;
  }

  parameterBuffer(n: number): Float32Array {
    if (n !== this.n) throw new HierError('E_REPLICA', `parameter buffer built for ${this.n} parameters, replica has ${n}`);
    return this.params;
  }

  shard(n: number): [number, number] {
    return shardRange(n, this.rank, this.size);
  }

  async reduceScatterMean(grads: Float32Array, start: number, end: number): Promise<void> {
    if (grads !== this.slots[this.rank]) throw new HierError('E_REPLICA', 'reduce-scatter expects the gradients in this replica\'s shared slot (gradientBuffer)');
    this.barrier(); // every slot is written
    const [lo, hi] = this.shard(this.n);
    const a = Math.max(lo, start);
    const b = Math.min(hi, end);
    // The mean of this replica's shard goes into its own slot: the other replicas read only their own shards of it.
    if (a < b) meanInto(this.slots, grads, a, b);
  }

  async agreeFirst(index: number): Promise<number> {
    Atomics.store(this.ctrl, CTRL_FLAGS + this.rank, index);
    this.barrier();
    const flags: number[] = [];
    for (let r = 0; r < this.size; r++) flags.push(Atomics.load(this.ctrl, CTRL_FLAGS + r));
    // Nobody writes a flag again before the next step's reduce-scatter barrier, which everyone reaches after this.
    return firstIndex(flags);
  }

  async allGatherShards(params: Float32Array): Promise<void> {
    if (params !== this.params) throw new HierError('E_REPLICA', 'all-gather expects the shared parameter buffer (parameterBuffer)');
    // Every replica updated its shard of the one shared buffer in place: once all have arrived, all is there.
    this.barrier();
  }
}

/** out[a, b) = mean over `parts` (rank order), with the same arithmetic as `meanOf`. */
function meanInto(parts: readonly Float32Array[], out: Float32Array, a: number, b: number): void {
  if (parts.length === 2) {
    mean2(parts[0]!, parts[1]!, out, a, b, 1 / 2);
    return;
  }
  const inv = 1 / parts.length;
  for (let i = a; i < b; i++) {
    let s = parts[0]![i]!;
    for (let r = 1; r < parts.length; r++) s += parts[r]![i]!;
    out[i] = s * inv;
  }
}

/** The two-replica case as a tight monomorphic loop (the common CPU case: one replica per core). */
function mean2(x: Float32Array, y: Float32Array, out: Float32Array, a: number, b: number, inv: number): void {
  for (let i = a; i < b; i++) out[i] = (x[i]! + y[i]!) * inv;
}

/** Mean of equal-length parts in rank order, with the same arithmetic as SabCollective. */
export function meanOf(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts[0]!.length);
  meanInto(parts, out, 0, out.length);
  return out;
}

/** The replica side of the socket hub: messages are sent through `send` and answers awaited through `expect`. */
export class HubCollective implements Collective {
  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly send: (msg: unknown) => void,
    private readonly expect: (type: string) => Promise<Record<string, unknown>>,
  ) {}

  async allGather(z: Float32Array, labels: Int32Array): Promise<{ z: Float32Array; labels: Int32Array }> {
    this.send({ type: 'gather', z, labels });
    const m = await this.expect('gathered');
    return { z: m.z as Float32Array, labels: m.labels as Int32Array };
  }

  gradientBuffer(n: number): Float32Array {
    return new Float32Array(n);
  }

  parameterBuffer(n: number): Float32Array {
    return new Float32Array(n);
  }

  shard(n: number): [number, number] {
    return shardRange(n, this.rank, this.size);
  }

  async reduceScatterMean(grads: Float32Array, start: number, end: number): Promise<void> {
    const [lo, hi] = this.shard(grads.length);
    const a = Math.max(lo, start);
    const b = Math.max(a, Math.min(hi, end));
    // The hub averages [start, end) and answers with this replica's part of the mean, [a, b).
    this.send({ type: 'reduce', data: grads.subarray(start, end), from: a - start, to: b - start });
    const m = await this.expect('reduced');
    grads.set(m.data as Float32Array, a);
  }

  async agreeFirst(index: number): Promise<number> {
    this.send({ type: 'agree', value: index });
    return (await this.expect('agreed')).value as number;
  }

  async allGatherShards(params: Float32Array): Promise<void> {
    const [lo, hi] = this.shard(params.length);
    this.send({ type: 'shards', from: lo, data: params.subarray(lo, hi), length: params.length });
    const m = await this.expect('allShards');
    params.set(m.data as Float32Array);
  }
}
