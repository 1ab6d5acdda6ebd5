/**
 * Embedding-level gradient caching (platform notes §5): Proxy-Anchor and HIER couple the whole batch, so plain
 * gradient accumulation over micro-batches would change the loss. Instead:
 *   1. embed the batch in micro-batches without a tape,
 *   2. compute the losses and dL/dz (and the loss-parameter gradients) on the full (gathered) batch,
 *   3. re-embed each micro-batch under the tape and backprop its slice of dL/dz through sum(z · dL/dz).
 * The result equals one full-batch backward pass whenever the train-mode forward is sample-independent; with
 * train-mode BatchNorm, statistics are per micro-batch (as they are per GPU in the official DDP runs) and the
 * running statistics are updated by pass 1 only.
 */
import { HierError } from '@hier-ts/core';
import { type EmbeddingModel, type MetricLoss, tf } from '@hier-ts/engine';

export interface LossSet {
  metric: MetricLoss | null;
  hier: MetricLoss | null;
  lambda1: number;
  /** Effective HIER weight this step (0 before cluster_start). */
  lambda2: number;
}

export interface LossGradients {
  /** Scalars: total, metric term (unweighted), hier term (unweighted; 0 when not computed). */
  total: tf.Scalar;
  metric: tf.Scalar;
  hier: tf.Scalar;
  /** dL/dz for the whole batch [B, D]. */
  dz: tf.Tensor2D;
  /** Gradients of the loss parameters keyed by tf variable name. */
  lossGrads: Record<string, tf.Tensor>;
}

function chunks(n: number, micro: number): [number, number][] {
  const m = micro > 0 ? micro : n;
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += m) out.push([s, Math.min(n, s + m)]);
  return out;
}

function imageSlice(images: Float32Array, shape: readonly number[], start: number, end: number): tf.Tensor4D {
  const per = shape[1]! * shape[2]! * shape[3]!;
  return tf.tensor4d(images.subarray(start * per, end * per), [end - start, shape[1]!, shape[2]!, shape[3]!]);
}

/** Pass 1: train-mode embeddings of the whole batch, micro-batch by micro-batch, outside any tape. */
export function embedBatch(model: EmbeddingModel, images: Float32Array, shape: readonly number[], micro: number, mode: 'train' | 'eval' = 'train'): tf.Tensor2D {
  const n = shape[0]!;
  if (images.length !== n * shape[1]! * shape[2]! * shape[3]!) {
    throw new HierError('E_SHAPE', `batch images hold ${images.length} floats but shape is [${shape.join(', ')}]`);
  }
  const parts = chunks(n, micro).map(([s, e]) => {
    const x = imageSlice(images, shape, s, e);
    const z = model.embed(x, mode);
    x.dispose();
    return z;
  });
  if (parts.length === 1) return parts[0]!;
  const z = tf.concat(parts, 0) as tf.Tensor2D;
  for (const p of parts) p.dispose();
  return z;
}

/** Pass 2: the weighted losses on the full batch and their gradients w.r.t. z and the loss parameters. */
export function lossGradients(z: tf.Tensor2D, labels: Int32Array, losses: LossSet): LossGradients {
  if (labels.length !== z.shape[0]) throw new HierError('E_SHAPE', `labels has ${labels.length} entries but z is [${z.shape}]`);
  const vars: tf.Variable[] = [];
  for (const l of [losses.metric, losses.hier]) for (const v of l?.namedVariables() ?? []) vars.push(v.variable);
  const y = tf.tensor1d(labels, 'int32');
  let metric: tf.Scalar | null = null;
  let hier: tf.Scalar | null = null;
  const useMetric = losses.metric !== null && losses.lambda1 !== 0;
  const useHier = losses.hier !== null && losses.lambda2 !== 0;
  if (!useMetric && !useHier) throw new HierError('E_LOSS', 'no loss term is active this step (lambda1 = 0 and no HIER weight)');
  const { value, grads } = tf.engine().gradients(
    () => {
      let total: tf.Scalar = tf.scalar(0);
      if (useMetric) {
        metric = tf.keep(losses.metric!.compute(z, y));
        total = tf.add(total, tf.mul(metric, losses.lambda1));
      }
      if (useHier) {
        hier = tf.keep(losses.hier!.compute(z, y));
        total = tf.add(total, tf.mul(hier, losses.lambda2));
      }
      return total;
    },
    [z, ...vars],
    undefined,
    true,
  );
  y.dispose();
  const lossGrads: Record<string, tf.Tensor> = {};
  vars.forEach((v, i) => {
    const g = grads[i + 1];
    if (g) lossGrads[v.name] = g;
  });
  const dz = (grads[0] ?? tf.zerosLike(z)) as tf.Tensor2D;
  return { total: value as tf.Scalar, metric: metric ?? tf.scalar(0), hier: hier ?? tf.scalar(0), dz, lossGrads };
}

/**
 * Pass 3: re-embeds each micro-batch under the tape and backprops `dz` (this replica's rows of dL/dz), returning the
 * summed model gradients keyed by tf variable name. Non-trainable state (BN running statistics) is restored
 * afterwards so that it is updated once per step, by pass 1.
 */
export function backpropEmbeddings(
  model: EmbeddingModel,
  images: Float32Array,
  shape: readonly number[],
  dz: tf.Tensor2D,
  micro: number,
): Record<string, tf.Tensor> {
  const n = shape[0]!;
  if (dz.shape[0] !== n) throw new HierError('E_SHAPE', `dL/dz has ${dz.shape[0]} rows for a batch of ${n}`);
  const trainable = model.namedVariables().map((v) => v.variable);
  const trainableSet = new Set(trainable);
  const frozenState = model
    .stateVariables()
    .map((v) => v.variable)
    .filter((v) => !trainableSet.has(v));
  const saved = frozenState.map((v) => tf.clone(v));
  const sum: Record<string, tf.Tensor> = {};
  try {
    for (const [s, e] of chunks(n, micro)) {
      const x = imageSlice(images, shape, s, e);
      const g = tf.slice(dz, [s, 0], [e - s, dz.shape[1]]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.embed(x, 'train'), g)) as tf.Scalar, trainable);
      value.dispose();
      x.dispose();
      g.dispose();
      for (const [name, t] of Object.entries(grads)) {
        const prev = sum[name];
        if (prev) {
          sum[name] = tf.add(prev, t);
          prev.dispose();
          t.dispose();
        } else sum[name] = t;
      }
    }
  } finally {
    frozenState.forEach((v, i) => {
      v.assign(saved[i]!);
      saved[i]!.dispose();
    });
  }
  return sum;
}

/**
 * Single-pass path (one micro-batch, and either one replica or a blocking all-gather): forward with tape, losses,
 * backward, all at once — the same gradients as the three passes above without the second forward.
 */
export function fusedGradients(
  model: EmbeddingModel,
  images: Float32Array,
  shape: readonly number[],
  labels: Int32Array,
  losses: LossSet,
  /** Replaces the local embeddings by the global batch (synchronously, inside the tape). */
  gather?: (zLocal: tf.Tensor2D, labels: Int32Array) => { z: tf.Tensor2D; labels: Int32Array },
): {
  total: tf.Scalar;
  metric: tf.Scalar;
  hier: tf.Scalar;
  grads: Record<string, tf.Tensor>;
  /**
   * Seconds in the forward pass, the gather (waiting for the other replicas included) and the losses, marked
   * inside the taped function; the rest of the call is the backward pass. Exact for backends that run kernels
   * synchronously (wasm, cpu, tfjs-node), which is what the trainer runs on.
   */
  times: { forward: number; gather: number; loss: number };
} {
  const vars: tf.Variable[] = model.namedVariables().map((v) => v.variable);
  for (const l of [losses.metric, losses.hier]) for (const v of l?.namedVariables() ?? []) vars.push(v.variable);
  const x = imageSlice(images, shape, 0, shape[0]!);
  let y: tf.Tensor1D | null = gather ? null : tf.tensor1d(labels, 'int32');
  let metric: tf.Scalar | null = null;
  let hier: tf.Scalar | null = null;
  const useMetric = losses.metric !== null && losses.lambda1 !== 0;
  const useHier = losses.hier !== null && losses.lambda2 !== 0;
  if (!useMetric && !useHier) throw new HierError('E_LOSS', 'no loss term is active this step (lambda1 = 0 and no HIER weight)');
  const times = { forward: 0, gather: 0, loss: 0 };
  const { value, grads } = tf.variableGrads(() => {
    const t0 = performance.now();
    let z = model.embed(x, 'train');
    const t1 = performance.now();
    times.forward = (t1 - t0) / 1000;
    if (gather) {
      const g = gather(z, labels);
      z = g.z;
      y = tf.keep(tf.tensor1d(g.labels, 'int32'));
    }
    const t2 = performance.now();
    times.gather = (t2 - t1) / 1000;
    let total: tf.Scalar = tf.scalar(0);
    if (useMetric) {
      metric = tf.keep(losses.metric!.compute(z, y!));
      total = tf.add(total, tf.mul(metric, losses.lambda1));
    }
    if (useHier) {
      hier = tf.keep(losses.hier!.compute(z, y!));
      total = tf.add(total, tf.mul(hier, losses.lambda2));
    }
    times.loss = (performance.now() - t2) / 1000;
    return total;
  }, vars);
  x.dispose();
  (y as tf.Tensor1D | null)?.dispose();
  return { total: value, metric: metric ?? tf.scalar(0), hier: hier ?? tf.scalar(0), grads, times };
}
