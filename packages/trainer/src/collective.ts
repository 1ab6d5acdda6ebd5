/**
 * Collectives between replicas.
 * - Threads: a SharedArrayBuffer with one slot per replica and an Atomics barrier; each replica reduces 1/P of the
 *   buffer (reduce-scatter) and everyone reads the result (all-gather), ~2 GB/s here (platform notes §5).
 * - Processes: the parent is a hub on a loopback socket; replicas send their part and receive the concatenation
 *   or the mean (a star rather than a ring: simpler, and with 2-4 replicas the hub link is not the bottleneck).
 * Every wait has a timeout and an abort flag, so a dead replica ends the run with an error instead of a hang.
 */
import { HierError } from '@hier-ts/core';
import type { Collective } from './replica.js';

/** ctrl layout: [arrived, generation, abort] */
export const CTRL_ARRIVED = 0;
export const CTRL_GENERATION = 1;
export const CTRL_ABORT = 2;

export class SabCollective implements Collective {
  private readonly ctrl: Int32Array;
  private readonly data: Float32Array;

  constructor(
    readonly rank: number,
    readonly size: number,
    ctrl: SharedArrayBuffer,
    data: SharedArrayBuffer,
    /** Floats per replica slot. */
    private readonly slot: number,
    private readonly timeoutMs: number,
  ) {
    this.ctrl = new Int32Array(ctrl);
    this.data = new Float32Array(data);
    if (this.data.length < slot * size) throw new HierError('E_REPLICA', `shared buffer holds ${this.data.length} floats, need ${slot * size}`);
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
    if (need > this.slot) throw new HierError('E_REPLICA', `all-gather of ${need} floats exceeds the ${this.slot}-float slot`);
    const base = this.rank * this.slot;
    this.data.set(z, base);
    for (let i = 0; i < labels.length; i++) this.data[base + z.length + i] = labels[i]!;
    this.barrier();
    const allZ = new Float32Array(z.length * this.size);
    const allY = new Int32Array(labels.length * this.size);
    for (let r = 0; r < this.size; r++) {
      const b = r * this.slot;
      allZ.set(this.data.subarray(b, b + z.length), r * z.length);
      for (let i = 0; i < labels.length; i++) allY[r * labels.length + i] = this.data[b + z.length + i]!;
    }
    this.barrier();
    return { z: allZ, labels: allY };
  }

  async allReduceMean(buf: Float32Array, start: number, end: number): Promise<void> {
    const len = end - start;
    if (len > this.slot) throw new HierError('E_REPLICA', `all-reduce of ${len} floats exceeds the ${this.slot}-float slot`);
    const d = this.data;
    d.set(buf.subarray(start, end), this.rank * this.slot);
    this.barrier();
    // reduce-scatter: this replica owns chunk [lo, hi) and writes the mean into slot 0
    const chunk = Math.ceil(len / this.size);
    const lo = Math.min(len, this.rank * chunk);
    const hi = Math.min(len, lo + chunk);
    const inv = 1 / this.size;
    for (let i = lo; i < hi; i++) {
      let s = d[i]!;
      for (let r = 1; r < this.size; r++) s += d[r * this.slot + i]!;
      d[i] = s * inv;
    }
    this.barrier();
    buf.set(d.subarray(0, len), start);
    this.barrier();
  }
}

/** Mean of equal-length parts in rank order, with the same arithmetic as SabCollective. */
export function meanOf(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts[0]!.length);
  const inv = 1 / parts.length;
  for (let i = 0; i < out.length; i++) {
    let s = parts[0]![i]!;
    for (let r = 1; r < parts.length; r++) s += parts[r]![i]!;
    out[i] = s * inv;
  }
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

  async allReduceMean(buf: Float32Array, start: number, end: number): Promise<void> {
    this.send({ type: 'reduce', data: buf.subarray(start, end) });
    const m = await this.expect('reduced');
    buf.set(m.data as Float32Array, start);
  }
}
