/**
 * Small, fully deterministic models and losses that satisfy the engine contracts. They exist so the trainer can be
 * tested (and benchmarked for overheads) without the real backbones and losses, including inside replica workers,
 * which is why they live in src/ and are compiled rather than in a test file.
 */
import { HierError, Rng } from '@hier-ts/core';
import { type EmbeddingModel, type MetricLoss, type NamedVariable, type ParamGroup, tf } from '@hier-ts/engine';

let uid = 0;
function vname(prefix: string): string {
  uid += 1;
  return `${prefix}_${uid}`;
}

function randn(rng: Rng, shape: number[], scale: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return tf.tensor(a, shape);
}

export interface ToyModelOptions {
  inputSize: number;
  hidden: number;
  emb: number;
  seed: number;
  /** Adds a batch-normalisation layer (train mode: batch statistics, running stats updated). */
  batchNorm?: boolean;
}

/**
 * flatten → dense(hidden) → tanh [→ BN] (backbone) → dense(emb) → tanh (head). Without BN the train-mode forward
 * is independent across samples, which makes micro-batching exactly equal to one full-batch pass.
 */
export function createToyModel(opts: ToyModelOptions): EmbeddingModel {
  const rng = new Rng(opts.seed);
  const mk = (shape: number[], scale: number, prefix: string): tf.Variable => {
    const init = randn(rng, shape, scale);
    const v = tf.variable(init, true, vname(prefix));
    init.dispose();
    return v;
  };
  const w1 = mk([opts.inputSize, opts.hidden], 1 / Math.sqrt(opts.inputSize), 'toy_w1');
  const b1 = mk([opts.hidden], 0.1, 'toy_b1');
  const w2 = mk([opts.hidden, opts.emb], 1 / Math.sqrt(opts.hidden), 'toy_w2');
  const b2 = mk([opts.emb], 0.1, 'toy_b2');
  const bnGamma = opts.batchNorm ? tf.variable(tf.ones([opts.hidden]), true, vname('toy_bn_gamma')) : null;
  const bnBeta = opts.batchNorm ? tf.variable(tf.zeros([opts.hidden]), true, vname('toy_bn_beta')) : null;
  const bnMean = opts.batchNorm ? tf.variable(tf.zeros([opts.hidden]), false, vname('toy_bn_mean')) : null;
  const bnVar = opts.batchNorm ? tf.variable(tf.ones([opts.hidden]), false, vname('toy_bn_var')) : null;
  return {
    name: 'toy',
    embeddingDim: opts.emb,
    embed(x: tf.Tensor4D, mode: 'train' | 'eval'): tf.Tensor2D {
      const n = x.shape[0];
      if (x.size / n !== opts.inputSize) {
        throw new HierError('E_SHAPE', `toy model expects ${opts.inputSize} values per image, got input [${x.shape}]`);
      }
      return tf.tidy(() => {
        let h = tf.tanh(tf.add(tf.matMul(tf.reshape(x, [n, opts.inputSize]), w1), b1)) as tf.Tensor2D;
        if (bnGamma && bnBeta && bnMean && bnVar) {
          if (mode === 'train') {
            const m = tf.moments(h, 0);
            h = tf.batchNorm(h, m.mean, m.variance, bnBeta, bnGamma, 1e-5) as tf.Tensor2D;
            bnMean.assign(tf.add(tf.mul(bnMean, 0.9), tf.mul(m.mean, 0.1)) as tf.Tensor1D);
            bnVar.assign(tf.add(tf.mul(bnVar, 0.9), tf.mul(m.variance, 0.1)) as tf.Tensor1D);
          } else {
            h = tf.batchNorm(h, bnMean, bnVar, bnBeta, bnGamma, 1e-5) as tf.Tensor2D;
          }
        }
        return tf.tanh(tf.add(tf.matMul(h, w2), b2)) as tf.Tensor2D;
      });
    },
    namedVariables(): (NamedVariable & { group: ParamGroup })[] {
      const out: (NamedVariable & { group: ParamGroup })[] = [
        { name: 'body.w1', variable: w1, group: 'backbone' },
        { name: 'body.b1', variable: b1, group: 'backbone' },
      ];
      if (bnGamma && bnBeta) {
        out.push({ name: 'body.bn.weight', variable: bnGamma, group: 'backbone' });
        out.push({ name: 'body.bn.bias', variable: bnBeta, group: 'backbone' });
      }
      out.push({ name: 'last_layer.weight', variable: w2, group: 'head' }, { name: 'last_layer.bias', variable: b2, group: 'head' });
      return out;
    },
    stateVariables(): NamedVariable[] {
      const out = this.namedVariables().map(({ name, variable }) => ({ name, variable }));
      if (bnMean && bnVar) out.push({ name: 'body.bn.running_mean', variable: bnMean }, { name: 'body.bn.running_var', variable: bnVar });
      return out;
    },
    dispose(): void {
      for (const v of [w1, b1, w2, b2, bnGamma, bnBeta, bnMean, bnVar]) v?.dispose();
    },
  };
}

export interface ToyLossOptions {
  numClasses: number;
  emb: number;
  seed: number;
  lrScale?: number;
  /** When given, each call keeps a random half of the anchors (like HIER's sampled triplets). */
  rng?: Rng;
}

/**
 * Proxy softmax over negative squared distances plus a pairwise pull between same-label samples, so the loss is
 * coupled across the batch (as Proxy-Anchor and HIER are) and plain gradient accumulation would be wrong.
 */
export function createToyLoss(opts: ToyLossOptions): MetricLoss {
  const init = randn(new Rng(opts.seed), [opts.numClasses, opts.emb], 0.5);
  const proxies = tf.variable(init, true, vname('toy_proxies'));
  init.dispose();
  const lrScale = opts.lrScale ?? 1;
  return {
    name: 'toy',
    compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
      const n = z.shape[0];
      let mask: tf.Tensor | null = null;
      if (opts.rng) {
        const m = new Float32Array(n);
        for (let i = 0; i < n; i++) m[i] = opts.rng.next() < 0.5 ? 0 : 1;
        m[0] = 1;
        mask = tf.tensor1d(m);
      }
      const out = tf.tidy(() => {
        const zz = tf.sum(tf.square(z), 1, true);
        const pp = tf.sum(tf.square(proxies), 1);
        const d = tf.sub(tf.add(zz, pp), tf.mul(2, tf.matMul(z, proxies, false, true)));
        const logits = tf.neg(d);
        const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), opts.numClasses), 'float32');
        const ce = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1));
        const same = tf.matMul(onehot, onehot, false, true);
        const dz = tf.sub(tf.add(zz, tf.transpose(zz)), tf.mul(2, tf.matMul(z, z, false, true)));
        const pull = tf.div(tf.sum(tf.mul(same, dz), 1), tf.sum(same, 1));
        let per = tf.add(ce, tf.mul(0.1, pull));
        if (mask) per = tf.mul(per, mask);
        const denom = mask ? tf.maximum(tf.sum(mask), 1) : tf.scalar(n);
        return tf.div(tf.sum(per), denom) as tf.Scalar;
      });
      mask?.dispose();
      return out;
    },
    namedVariables() {
      return [{ name: 'proxies', variable: proxies, lrScale }];
    },
    dispose() {
      proxies.dispose();
    },
  };
}

export interface ToyFactoryOptions {
  inputSize: number;
  hidden: number;
  numClasses: number;
  batchNorm?: boolean;
  /** Makes the toy loss draw from the trainer's loss Rng (to test exact resume of random losses). */
  randomLoss?: boolean;
  /** Test hook: replica 1 exits with code 7 when its loss is computed for the n-th time (0-based). */
  dieAtStep?: number;
  /** Test hook: replica 1 stops responding (busy loop) at the n-th loss computation. */
  hangAtStep?: number;
}

/** A `ReplicaFactory` over the toy model and loss (used by tests and the overhead benchmark). */
export function toyFactory(
  cfg: { emb: number; seed: number },
  ctx: { rank?: number; lossRng: Rng; options?: unknown },
): { model: EmbeddingModel; metric: MetricLoss; hier: null; lossRng: Rng } {
  const o = ctx.options as ToyFactoryOptions;
  const model = createToyModel({ inputSize: o.inputSize, hidden: o.hidden, emb: cfg.emb, seed: cfg.seed, batchNorm: o.batchNorm });
  const metric = createToyLoss({ numClasses: o.numClasses, emb: cfg.emb, seed: cfg.seed + 1, lrScale: 10, rng: o.randomLoss ? ctx.lossRng : undefined });
  if ((o.dieAtStep !== undefined || o.hangAtStep !== undefined) && ctx.rank === 1) {
    let calls = 0;
    const compute = metric.compute.bind(metric);
    metric.compute = (z, y) => {
      const n = calls++;
      if (n === o.dieAtStep) process.exit(7);
      if (n === o.hangAtStep) for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      return compute(z, y);
    };
  }
  return { model, metric, hier: null, lossRng: ctx.lossRng };
}

export interface ToyDataOptions {
  numImages: number;
  numClasses: number;
  /** Per-image shape [h, w, c]. */
  imageShape: [number, number, number];
  /** Global batch (batch_size x devices) and images per class. */
  globalBatch: number;
  ipc: number;
  seed: number;
}

/**
 * A synthetic dataset (class-dependent Gaussian images) with a UniqueClassSampler-like batch order that is a pure
 * function of (seed, epoch, batch index), so any iteration can be reproduced without replaying the ones before it.
 */
export function createToyData(o: ToyDataOptions) {
  const per = o.imageShape[0] * o.imageShape[1] * o.imageShape[2];
  const labels = Int32Array.from({ length: o.numImages }, (_, i) => i % o.numClasses);
  const centers = Array.from({ length: o.numClasses }, (_, c) => {
    const r = new Rng(o.seed * 7919 + c);
    return Float32Array.from({ length: per }, () => r.normal());
  });
  const image = (idx: number, out: Float32Array, at: number) => {
    const r = new Rng(o.seed * 1_000_003 + idx);
    const c = centers[labels[idx]!]!;
    for (let i = 0; i < per; i++) out[at + i] = c[i]! + 0.7 * r.normal();
  };
  const byClass = Array.from({ length: o.numClasses }, (_, c) => Array.from({ length: o.numImages }, (_, i) => i).filter((i) => labels[i] === c));
  return {
    numTrainImages: o.numImages,
    numClasses: o.numClasses,
    labels,
    image,
    *batches(epoch: number, start: number, iters: number) {
      for (let b = start; b < iters; b++) {
        const r = new Rng(b * 10_000 + epoch + o.seed * 1_000_000_007);
        const k = o.globalBatch / o.ipc;
        const classes = k <= o.numClasses ? r.sampleWithoutReplacement(o.numClasses, k) : Array.from({ length: k }, () => r.int(o.numClasses));
        const indices = new Int32Array(o.globalBatch);
        let j = 0;
        for (const c of classes) for (let t = 0; t < o.ipc; t++) indices[j++] = byClass[c]![r.int(byClass[c]!.length)]!;
        const images = new Float32Array(o.globalBatch * per);
        for (let i = 0; i < indices.length; i++) image(indices[i]!, images, i * per);
        yield {
          images,
          shape: [o.globalBatch, o.imageShape[0], o.imageShape[1], o.imageShape[2]] as [number, number, number, number],
          labels: Int32Array.from(indices, (i) => labels[i]!),
          indices,
        };
      }
    },
  };
}
