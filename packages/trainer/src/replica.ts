/**
 * One data-parallel replica: it owns a model, the losses and an optimiser, and runs the HIER step on its slice of
 * the global batch. Only the `Collective` knows whether other replicas exist (worker threads, child processes or
 * none): embeddings are all-gathered so every replica evaluates the losses on the global batch (spec §5.6), model
 * gradients are averaged, and the loss parameters, whose gradients are computed identically everywhere, are not
 * exchanged at all.
 */
import { HierError, Rng } from '@hier-ts/core';
import { type EmbeddingModel, type MetricLoss, tf } from '@hier-ts/engine';
import { type TrainConfig, adamEps, worldSize } from './config.js';
import { FlatOptimizer, type OptimizerState, clampGradients } from './optim.js';
import { FlatLayout, type TrainableParam, collectParams } from './params.js';
import { type ScheduleKind, groupLr, scheduleFromConfig } from './schedule.js';
import { backpropEmbeddings, embedBatch, fusedGradients, lossGradients } from './step.js';

export interface Collective {
  readonly rank: number;
  readonly size: number;
  /** Concatenation in rank order of every replica's rows. */
  allGather(z: Float32Array, labels: Int32Array): Promise<{ z: Float32Array; labels: Int32Array }>;
  /** In place: buf[start, end) becomes the mean over replicas. */
  allReduceMean(buf: Float32Array, start: number, end: number): Promise<void>;
  /** Optional blocking all-gather (shared memory): enables the single-forward step. */
  allGatherSync?(z: Float32Array, labels: Int32Array): { z: Float32Array; labels: Int32Array };
}

export const LOCAL_COLLECTIVE: Collective = {
  rank: 0,
  size: 1,
  async allGather(z, labels) {
    return { z, labels };
  },
  async allReduceMean() {},
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
  private flat: Float32Array | null = null;
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
  }

  async init(): Promise<void> {
    this.flat = await this.layout.read();
  }

  /** The current trainable parameters (a copy). */
  async parameters(): Promise<Float32Array> {
    if (!this.flat) await this.init();
    return this.flat!.slice();
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
    if (!this.flat) await this.init();
    const cfg = this.cfg;
    const rngs = this.parts.lossRng === undefined ? [] : Array.isArray(this.parts.lossRng) ? this.parts.lossRng : [this.parts.lossRng];
    for (let k = 0; k < rngs.length; k++) reseedRng(rngs[k]!, cfg.seed + 7_777 * k, ctx.it);
    const losses = this.lossSet(ctx.it, ctx.itersPerEpoch);
    const times: StepTimes = { forward: 0, loss: 0, backward: 0, allreduce: 0, optimizer: 0 };
    const n = batch.shape[0];
    const micro = cfg.micro_batch > 0 ? cfg.micro_batch : n;
    const grads = new Float32Array(this.layout.size);
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
      await this.layout.gather(r.grads, grads);
      tf.dispose([r.total, r.metric, r.hier, ...Object.values(r.grads)]);
      times.backward = now() - t0;
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
      await this.layout.gather(lg.lossGrads, grads, true);
      // Replicas hold equal slices, so this replica's rows start at rank · n.
      const dzLocal = this.collective.size === 1 ? lg.dz : tf.slice(lg.dz, [rank * n, 0], [n, emb]);
      times.loss = now() - t0;
      t0 = now();
      const mg = backpropEmbeddings(this.parts.model, batch.images, batch.shape, dzLocal, micro);
      await this.layout.gather(mg, grads, true);
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
    // Model gradients: the mean over replicas is what DDP gives; rescale to the emulated world size.
    t0 = now();
    const [ms, me] = this.layout.modelRange();
    await this.collective.allReduceMean(grads, ms, me);
    times.allreduce += now() - t0;
    t0 = now();
    const scale = this.collective.size / worldSize(cfg);
    if (scale !== 1) for (let i = ms; i < me; i++) grads[i] = grads[i]! * scale;
    let bad = -1;
    for (let i = 0; i < grads.length; i++) {
      if (!Number.isFinite(grads[i]!)) {
        bad = i;
        break;
      }
    }
    if (bad >= 0) {
      const seg = this.layout.segments.find((s) => bad >= s.offset && bad < s.offset + s.size);
      report.nonFinite = { term: 'gradient', detail: `non-finite gradient in ${seg?.name ?? '?'} at iteration ${ctx.it}` };
      return report;
    }
    if (cfg.clip_grad > 0) clampGradients(grads, 10);
    this.optimizer.step(this.flat!, grads, this.layout.segments, this.lrPerSegment);
    this.layout.write(this.flat!);
    times.optimizer = now() - t0;
    return report;
  }

  /** Model state (including BN statistics) and loss parameters, plus the optimiser state. */
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
    this.flat = await this.layout.read();
  }
}
