import { HierError, Rng } from '@hier-ts/core';

/** Seed of the per-(batch, epoch) class-choice stream; plays the role of the official `b·10000 + epoch`. */
function classSeed(seed: number, batch: number, epoch: number): number {
  return (Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) + batch * 10000 + epoch) >>> 0;
}

export interface UniqueClassSamplerOptions {
  labels: ArrayLike<number>;
  /**
   * Sample only these positions of `labels` (e.g. `ds.indicesOf('train')` with `labels = ds.labels`); the
   * batches then hold these values, i.e. dataset rows. Default: every position.
   */
  rows?: ArrayLike<number>;
  /** Per-rank batch size (90 in the official scripts). */
  batchSize: number;
  /** Images per class (IPC, 2 in every official script). */
  imagesPerClass: number;
  worldSize?: number;
  rank?: number;
  seed?: number;
}

export interface SamplerState {
  /** The image-draw generator (the official code's Python `random`), carried across epochs. */
  rng: number[];
}

/**
 * The official `UniqueClassSampler` (spec §5.5). Per batch b of epoch e: the classes come from a stream
 * seeded by (seed, b, e), drawn without replacement (with replacement only when more are needed than exist)
 * from the class list in order of first appearance; rank r takes the r-th contiguous slice. Then a sub-seed
 * from the carried generator seeds the image draws: `imagesPerClass` indices per class **with replacement**,
 * class by class. Ranks share both streams, so each class lands on exactly one rank.
 */
export class UniqueClassSampler {
  readonly batchSize: number;
  readonly imagesPerClass: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly seed: number;
  readonly classes: number[];
  private readonly byClass: Map<number, number[]>;
  private readonly n: number;
  private rng: Rng;

  constructor(opts: UniqueClassSamplerOptions) {
    this.batchSize = opts.batchSize;
    this.imagesPerClass = opts.imagesPerClass;
    this.worldSize = opts.worldSize ?? 1;
    this.rank = opts.rank ?? 0;
    this.seed = opts.seed ?? 0;
    const rows = opts.rows ?? null;
    this.n = rows ? rows.length : opts.labels.length;
    const ipc = this.imagesPerClass;
    if (!Number.isInteger(ipc) || ipc < 1) throw new HierError('SAMPLER_CONFIG', `imagesPerClass must be a positive integer, got ${ipc}`);
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new HierError('SAMPLER_CONFIG', `batchSize must be a positive integer, got ${this.batchSize}`);
    if (this.batchSize % ipc !== 0) throw new HierError('SAMPLER_CONFIG', `batchSize ${this.batchSize} is not a multiple of imagesPerClass ${ipc}`);
    if (!(this.rank >= 0 && this.rank < this.worldSize)) throw new HierError('SAMPLER_CONFIG', `rank ${this.rank} outside 0..${this.worldSize - 1}`);
    if (this.n === 0) throw new HierError('SAMPLER_CONFIG', 'UniqueClassSampler needs at least one labelled image');
    this.byClass = new Map();
    this.classes = [];
    for (let k = 0; k < this.n; k++) {
      const i = rows ? rows[k]! : k;
      if (!(i >= 0 && i < opts.labels.length)) throw new HierError('SAMPLER_CONFIG', `rows[${k}] = ${i} is outside the ${opts.labels.length} labels`);
      const y = opts.labels[i]!;
      let list = this.byClass.get(y);
      if (!list) {
        list = [];
        this.byClass.set(y, list);
        this.classes.push(y);
      }
      list.push(i);
    }
    this.rng = new Rng(this.seed);
  }

  /** ⌊N / (worldSize · batchSize)⌋, as the official sampler. */
  get batchesPerEpoch(): number {
    return Math.floor(this.n / (this.worldSize * this.batchSize));
  }

  /** Classes per global batch (batchSize · worldSize / IPC). */
  get classesPerBatch(): number {
    return (this.batchSize * this.worldSize) / this.imagesPerClass;
  }

  /**
   * This rank's batches of epoch `epoch` (row indices into `labels`). Advances the carried generator, so
   * call it once per epoch in order (or restore `state()` first).
   */
  epoch(epoch: number): Int32Array[] {
    const k = this.classesPerBatch;
    const perRank = k / this.worldSize;
    const C = this.classes.length;
    const out: Int32Array[] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const cr = new Rng(classSeed(this.seed, b, epoch));
      const picks = k <= C ? cr.sampleWithoutReplacement(C, k) : Array.from({ length: k }, () => cr.int(C));
      const mine = picks.slice(this.rank * perRank, (this.rank + 1) * perRank);
      const draw = new Rng(this.rng.int(1_000_001));
      const batch = new Int32Array(this.batchSize);
      let o = 0;
      for (const ci of mine) {
        const members = this.byClass.get(this.classes[ci]!)!;
        for (let j = 0; j < this.imagesPerClass; j++) batch[o++] = members[draw.int(members.length)]!;
      }
      out.push(batch);
    }
    return out;
  }

  state(): SamplerState {
    return { rng: this.rng.state() };
  }

  setState(state: SamplerState): void {
    if (!Array.isArray(state?.rng) || state.rng.length < 4) throw new HierError('SAMPLER_STATE', `sampler state must hold rng: number[4+], got ${JSON.stringify(state)}`);
    this.rng = Rng.fromState(state.rng);
  }
}

export interface ShuffledSamplerOptions {
  size: number;
  batchSize: number;
  seed?: number;
  dropLast?: boolean;
  worldSize?: number;
  rank?: number;
}

/** A fresh permutation per epoch (seeded by seed and epoch, so no state to carry), cut into batches. */
export class ShuffledSampler {
  constructor(private readonly opts: ShuffledSamplerOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new HierError('SAMPLER_CONFIG', `batchSize must be a positive integer, got ${opts.batchSize}`);
  }

  get batchesPerEpoch(): number {
    const global = this.opts.batchSize * (this.opts.worldSize ?? 1);
    return this.opts.dropLast === false ? Math.ceil(this.opts.size / global) : Math.floor(this.opts.size / global);
  }

  epoch(epoch: number): Int32Array[] {
    const { size, batchSize, seed = 0, worldSize = 1, rank = 0 } = this.opts;
    const perm = Int32Array.from({ length: size }, (_, i) => i);
    new Rng(classSeed(seed ^ 0x2545f491, 0, epoch)).shuffle(perm);
    const global = batchSize * worldSize;
    const out: Int32Array[] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const start = b * global + rank * batchSize;
      out.push(perm.slice(Math.min(start, size), Math.min(start + batchSize, size)));
    }
    return out.filter((x) => x.length > 0);
  }
}

/** Consecutive batches in dataset order (evaluation / embedding extraction). */
export function sequentialBatches(indices: ArrayLike<number>, batchSize: number): Int32Array[] {
  const all = Int32Array.from(indices as ArrayLike<number>);
  const out: Int32Array[] = [];
  for (let i = 0; i < all.length; i += batchSize) out.push(all.slice(i, i + batchSize));
  return out;
}
