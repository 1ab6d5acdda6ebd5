/**
 * One data-parallel replica: it owns a model, the losses and an optimiser, and runs the HIER step on its slice of
 * the global batch. Only the `Collective` knows whether other replicas exist (worker threads, child processes or
 * none): embeddings are all-gathered so every replica evaluates the losses on the global batch (spec §5.6), model
 * gradients are averaged, and the loss parameters, whose gradients are computed identically everywhere, are not
 * exchanged at all.
 */
import { HierError, Rng } from '@hier-ts/core';
import { type EmbeddingModel, explainWasmFailure, type MetricLoss, tf } from '@hier-ts/engine';
import { type TrainConfig, adamEps, worldSize } from './config.js';
import { FlatOptimizer, type OptimizerState, prepareGradients } from './optim.js';
import { FlatLayout, type TrainableParam, collectParams } from './params.js';
import { type ScheduleKind, groupLr, scheduleFromConfig } from './schedule.js';
import { backpropEmbeddings, embedBatch, fusedGradients, lossGradients } from './step.js';

/**
 * What a replica needs from the other replicas. The update is ZeRO-1 style: gradients are reduce-scattered, each
 * replica clips, checks and applies the optimiser to its own shard of the flat vector only, and the updated
 * shards are all-gathered — the same arithmetic per element as a full update on every replica, with 1/P of it.
 */
export interface Collective {
  readonly rank: number;
  readonly size: number;
  /** Concatenation in rank order of every replica's rows. */
  allGather(z: Float32Array, labels: Int32Array): Promise<{ z: Float32Array; labels: Int32Array }>;
  /** Optional blocking all-gather (shared memory): enables the single-forward step. */
  allGatherSync?(z: Float32Array, labels: Int32Array): { z: Float32Array; labels: Int32Array };
  /** The buffer (n floats) this replica writes its flat gradients into; shared memory reduces it in place. */
  gradientBuffer(n: number): Float32Array;
  /** The buffer (n floats) holding this replica's flat parameters; with shared memory, one buffer for all. */
  parameterBuffer(n: number): Float32Array;
  /** [lo, hi): the part of a flat vector of n floats that this replica reduces and updates. */
  shard(n: number): [number, number];
  /** Reduce-scatter: afterwards grads[shard ∩ [start, end)] holds the mean over replicas (the rest: unspecified). */
  reduceScatterMean(grads: Float32Array, start: number, end: number): Promise<void>;
  /** The smallest non-negative `index` over replicas, or -1 (agreement on the first non-finite gradient). */
  agreeFirst(index: number): Promise<number>;
  /** All-gather: every replica's shard of `params` (its parameterBuffer) ends up on every replica. */
  allGatherShards(params: Float32Array): Promise<void>;
}

export const LOCAL_COLLECTIVE: Collective = {
  rank: 0,
  size: 1,
  async allGather(z, labels) {
    return { z, labels };
  },
  gradientBuffer: (n) => new Float32Array(n),
  parameterBuffer: (n) => new Float32Array(n),
  shard: (n) => [0, n],
  async reduceScatterMean() {},
  async agreeFirst(index) {
    return index;
  },
  async allGatherShards() {},
};

export interface ReplicaParts {
  model: EmbeddingModel;
  metric: MetricLoss | null;
  hier: MetricLoss | null;
  /**
   * The Rng(s) the losses draw from (HIER: mining and Gumbel noise); each is re-seeded from (seed, iteration,
   * position) before every step, so a resumed run draws exactly what the uninterrupted run drew.
   */
  lossRng?: Rng | Rng[];
}

export interface FactoryContext {
  rank: number;
  size: number;
  /** Pass this Rng to every loss that draws random numbers (HIER): the trainer re-seeds it each step. */
  lossRng: Rng;
  /** Free-form options from the FactorySpec. */
  options?: unknown;
}

/** Builds a replica's model and losses. Replicas call it with identical arguments so they start identical. */
export type ReplicaFactory = (cfg: TrainConfig, ctx: FactoryContext) => ReplicaParts | Promise<ReplicaParts>;

/** Where replica workers find the factory: an importable module URL/specifier and an export name. */
export interface FactorySpec {
  module: string;
  export: string;
  options?: unknown;
}

export interface LocalBatch {
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
}

export interface StepContext {
  /** Global iteration over the run (epoch · itersPerEpoch + step). */
  it: number;
  itersPerEpoch: number;
  /** Forces the three-pass path so forward / loss / backward are timed separately (benchmarks). */
  profile?: boolean;
}

/**
 * Seconds of one step on one replica. forward: the embedding (train mode); loss: the metric and HIER losses on
 * the (gathered) global batch; backward: the gradients, read back into the flat buffer; allreduce: every
 * collective, waits for the other replicas included (embedding all-gather, gradient reduce-scatter, agreement on
 * non-finite values, parameter all-gather); optimizer: scaling/checking/clipping and the update of this replica's
 * shard, plus writing the parameters back to the model. The backends used here (wasm, cpu, tfjs-node) run
 * kernels synchronously, so wall-clock marks between ops time them.
 */
export interface StepTimes {
  forward: number;
  loss: number;
  backward: number;
  allreduce: number;
  optimizer: number;
}

export interface StepReport {
  loss: number;
  metricLoss: number;
  hierLoss: number;
  /** lr of each group this step. */
  lr: Record<string, number>;
  times: StepTimes;
  /** With several replicas: each replica's own times, in rank order (`times` holds the per-field maximum). */
  replicaTimes?: StepTimes[];
  /** Set when a loss or gradient was not finite; the parameters were then left unchanged. */
  nonFinite?: { term: 'metric' | 'hier' | 'total' | 'gradient'; detail: string };
}

export interface ReplicaState {
  /** Model state (trainable + BN statistics) and loss parameters, by checkpoint name. */
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
  optimizer: OptimizerState;
}

/** Re-seeds `rng` in place (its state is private, so the fields of a fresh generator are copied over). */
export function reseedRng(rng: Rng, seed: number, it: number): void {
  Object.assign(rng, Rng.fromState(new Rng((seed * 1_000_003 + it * 7919 + 1) >>> 0).state()));
}

function now(): number {
  return performance.now() / 1000;
}

export class Replica {
  readonly params: TrainableParam[];
  readonly layout: FlatLayout;
  readonly optimizer: FlatOptimizer;
  /** This replica's shard [lo, hi) of the flat vector (everything when alone). */
  readonly shard: [number, number];
  private readonly flat: Float32Array;
  private grads: Float32Array | null = null;
  private initialised = false;
  private readonly schedule: ScheduleKind;
  private readonly lrPerSegment: Float64Array;

  constructor(
    readonly parts: ReplicaParts,
    readonly cfg: TrainConfig,
    readonly collective: Collective = LOCAL_COLLECTIVE,
  ) {
    this.params = collectParams(parts.model, { metric: parts.metric, hier: parts.hier }, cfg);
    this.layout = new FlatLayout(this.params);
    this.optimizer = new FlatOptimizer(this.layout.size, {
      kind: cfg.optimizer as 'adamw' | 'adam' | 'sgd',
      weightDecay: cfg.weight_decay,
      eps: adamEps(cfg),
    });
    this.schedule = scheduleFromConfig(cfg);
    this.lrPerSegment = new Float64Array(this.params.length);
    this.flat = collective.parameterBuffer(this.layout.size);
    this.shard = collective.shard(this.layout.size);
  }

  async init(): Promise<void> {
    // With a shared parameter buffer every replica writes the same values here (they start identical).
    await this.layout.read(this.flat);
    this.initialised = true;
  }

  /** The trainable parameters, read from this replica's model variables (a copy). */
  async parameters(): Promise<Float32Array> {
    if (!this.initialised) await this.init();
    return this.layout.read();
  }

  private lossSet(it: number, itersPerEpoch: number) {
    const epoch = Math.floor(it / itersPerEpoch);
    return {
      metric: this.parts.metric,
      hier: this.parts.hier,
      lambda1: this.cfg.lambda1,
      lambda2: this.parts.hier && this.cfg.lambda2 > 0 && epoch >= this.cfg.cluster_start ? this.cfg.lambda2 : 0,
    };
  }

  async step(batch: LocalBatch, ctx: StepContext): Promise<StepReport> {
    try {
      return await this.runStep(batch, ctx);
    } catch (err) {
      const perPass = this.cfg.micro_batch > 0 ? Math.min(this.cfg.micro_batch, batch.shape[0]) : batch.shape[0];
      throw explainWasmFailure(err, `the training step (iteration ${ctx.it}, ${perPass} images per forward pass on replica ${this.collective.rank})`);
    }
  }

  private async runStep(batch: LocalBatch, ctx: StepContext): Promise<StepReport> {
    if (!this.initialised) await this.init();
    const cfg = this.cfg;
    const rngs = this.parts.lossRng === undefined ? [] : Array.isArray(this.parts.lossRng) ? this.parts.lossRng : [this.parts.lossRng];
    for (let k = 0; k < rngs.length; k++) reseedRng(rngs[k]!, cfg.seed + 7_777 * k, ctx.it);
    const losses = this.lossSet(ctx.it, ctx.itersPerEpoch);
    const times: StepTimes = { forward: 0, loss: 0, backward: 0, allreduce: 0, optimizer: 0 };
    const n = batch.shape[0];
    const micro = cfg.micro_batch > 0 ? cfg.micro_batch : n;
    // Allocated on the first step (a replica used only to hold a model, e.g. for evaluation, never needs it).
    this.grads ??= this.collective.gradientBuffer(this.layout.size);
    const grads = this.grads;
    let lossValues: Float32Array[];
    let t0 = now();
    const gatherSync = this.collective.allGatherSync?.bind(this.collective);
    if ((this.collective.size === 1 || gatherSync) && micro >= n && !ctx.profile) {
      const rank = this.collective.rank;
      // With a blocking all-gather the global batch is assembled inside the tape: other replicas' rows are
      // constants, this replica's rows keep their graph (spec §5.6), so one forward pass suffices.
      const gather =
        this.collective.size === 1 || !gatherSync
          ? undefined
          : (zLocal: tf.Tensor2D, y: Int32Array) => {
              const g = gatherSync(zLocal.dataSync() as Float32Array, y);
              const emb = zLocal.shape[1];
              const parts: tf.Tensor2D[] = [];
              for (let r = 0; r < this.collective.size; r++) {
                parts.push(r === rank ? zLocal : tf.tensor2d(g.z.subarray(r * n * emb, (r + 1) * n * emb), [n, emb]));
              }
              return { z: tf.concat(parts, 0) as tf.Tensor2D, labels: g.labels };
            };
      const r = fusedGradients(this.parts.model, batch.images, batch.shape, batch.labels, losses, gather);
      lossValues = [await r.total.data(), await r.metric.data(), await r.hier.data()] as Float32Array[];
      this.layout.gatherSync(r.grads, grads);
      tf.dispose([r.total, r.metric, r.hier, ...Object.values(r.grads)]);
      const elapsed = now() - t0;
      times.forward = r.times.forward;
      times.loss = r.times.loss;
      times.allreduce += r.times.gather;
      times.backward = Math.max(0, elapsed - r.times.forward - r.times.loss - r.times.gather);
    } else {
      const zLocal = embedBatch(this.parts.model, batch.images, batch.shape, micro);
      const zData = (await zLocal.data()) as Float32Array;
      const emb = zLocal.shape[1];
      times.forward = now() - t0;
      t0 = now();
      const gathered = await this.collective.allGather(zData, batch.labels);
      times.allreduce += now() - t0;
      t0 = now();
      const rank = this.collective.rank;
      const zAll = this.collective.size === 1 ? zLocal : tf.tensor2d(gathered.z, [gathered.labels.length, emb]);
      const lg = lossGradients(zAll, gathered.labels, losses);
      lossValues = [await lg.total.data(), await lg.metric.data(), await lg.hier.data()] as Float32Array[];
      // Not keepMissing: this zeroes the model entries left from the previous step, which pass 3 fills in.
      this.layout.gatherSync(lg.lossGrads, grads);
      // Replicas hold equal slices, so this replica's rows start at rank · n.
      const dzLocal = this.collective.size === 1 ? lg.dz : tf.slice(lg.dz, [rank * n, 0], [n, emb]);
      times.loss = now() - t0;
      t0 = now();
      const mg = backpropEmbeddings(this.parts.model, batch.images, batch.shape, dzLocal, micro);
      this.layout.gatherSync(mg, grads, true);
      tf.dispose([zLocal, lg.total, lg.metric, lg.hier, lg.dz, ...Object.values(lg.lossGrads), ...Object.values(mg)]);
      if (zAll !== zLocal) zAll.dispose();
      if (dzLocal !== lg.dz) dzLocal.dispose();
      times.backward = now() - t0;
    }
    const [total, metric, hier] = lossValues.map((v) => v[0]!) as [number, number, number];
    const lr: Record<string, number> = {};
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const a = groupLr(cfg, p.group, p.lrScale, ctx.it, ctx.itersPerEpoch, this.schedule);
      this.lrPerSegment[i] = a;
      if (lr[p.group] === undefined) lr[p.group] = a / p.lrScale;
    }
    const report: StepReport = { loss: total, metricLoss: metric, hierLoss: hier, lr, times };
    if (!Number.isFinite(total)) {
      const term = !Number.isFinite(metric) ? 'metric' : !Number.isFinite(hier) ? 'hier' : 'total';
      report.nonFinite = { term, detail: `loss ${total} (metric ${metric}, hier ${hier}) at iteration ${ctx.it}` };
      // Every replica sees the same global loss, so all of them skip the collective below together.
      return report;
    }
    // Model gradients: the mean over replicas is what DDP gives; rescale to the emulated world size. ZeRO-1: each
    // replica averages, checks, clips and updates only its shard; loss-parameter gradients are identical on every
    // replica, so their shards need no averaging.
    const [lo, hi] = this.shard;
    const [ms, me] = this.layout.modelRange();
    t0 = now();
    await this.collective.reduceScatterMean(grads, ms, me);
    times.allreduce += now() - t0;
    t0 = now();
    const scale = this.collective.size / worldSize(cfg);
    const localBad = prepareGradients(grads, lo, hi, ms, me, scale, cfg.clip_grad > 0 ? 10 : Number.POSITIVE_INFINITY);
    times.optimizer += now() - t0;
    t0 = now();
    const bad = await this.collective.agreeFirst(localBad);
    times.allreduce += now() - t0;
    if (bad >= 0) {
      const seg = this.layout.segments.find((s) => bad >= s.offset && bad < s.offset + s.size);
      report.nonFinite = { term: 'gradient', detail: `non-finite gradient in ${seg?.name ?? '?'} at iteration ${ctx.it}` };
      return report;
    }
    t0 = now();
    this.optimizer.step(this.flat, grads, this.layout.segments, this.lrPerSegment, this.shard);
    times.optimizer += now() - t0;
    t0 = now();
    await this.collective.allGatherShards(this.flat);
    times.allreduce += now() - t0;
    t0 = now();
    this.layout.write(this.flat);
    times.optimizer += now() - t0;
    return report;
  }

  /**
   * Model state (including BN statistics) and loss parameters, plus the optimiser state. With several replicas
   * the moments are only current on this replica's shard (`optimizerShard`); the driver assembles the full state.
   */
  async exportState(): Promise<ReplicaState> {
    const tensors: ReplicaState['tensors'] = {};
    for (const v of this.parts.model.stateVariables()) {
      tensors[`model.${v.name}`] = { shape: v.variable.shape.slice(), data: Float32Array.from((await v.variable.data()) as Float32Array) };
    }
    for (const p of this.params) {
      if (p.name.startsWith('model.')) continue;
      tensors[p.name] = { shape: p.variable.shape.slice(), data: Float32Array.from((await p.variable.data()) as Float32Array) };
    }
    return { tensors, optimizer: this.optimizer.state() };
  }

  async importState(state: ReplicaState): Promise<void> {
    const byName = new Map<string, tf.Variable>();
    for (const v of this.parts.model.stateVariables()) byName.set(`model.${v.name}`, v.variable);
    for (const p of this.params) byName.set(p.name, p.variable);
    const missing = [...byName.keys()].filter((k) => !(k in state.tensors));
    if (missing.length) throw new HierError('E_RESUME', `checkpoint lacks ${missing.length} tensors: ${missing.slice(0, 5).join(', ')}`);
    for (const [name, v] of byName) {
      const t = state.tensors[name]!;
      if (t.data.length !== v.size) throw new HierError('E_RESUME', `checkpoint tensor ${name} has shape [${t.shape}], the model expects [${v.shape}]`);
      const x = tf.tensor(t.data, v.shape, 'float32');
      v.assign(x);
      x.dispose();
    }
    this.optimizer.load(state.optimizer);
    await this.layout.read(this.flat);
    this.initialised = true;
  }

  /** This replica's shard of the optimiser moments (to assemble the full state from all replicas). */
  optimizerShard(): { range: [number, number]; slots: Record<string, Float32Array> } {
    const [lo, hi] = this.shard;
    return { range: [lo, hi], slots: this.optimizer.slotRange(lo, hi) };
  }
}
