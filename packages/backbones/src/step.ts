import { HierError } from '@hier-ts/core';
import { countFlops, explainWasmFailure, tf } from '@hier-ts/engine';
import type { HierModel } from './model.js';

export interface TrainStepOptions {
  /** Images per forward/backward pass; gradients are summed over micro-batches (default: the whole batch). */
  microBatch?: number;
  /** Default: Adam with lr 1e-4. */
  optimizer?: tf.Optimizer;
  /** Default: mean(z²), as the PyTorch anchors (constant once every row saturates at the clip radius). */
  loss?: (z: tf.Tensor2D) => tf.Scalar;
}

/**
 * One optimisation step with the benchmark's simple loss, mean(z²) of the embeddings (as the PyTorch anchors).
 * The loss is a per-image mean, so micro-batching with summed, batch-weighted gradients is exact; the real
 * HIER/PA losses are batch-coupled and need the trainer's embedding-level gradient caching instead.
 */
export function createTrainStep(model: HierModel, options: TrainStepOptions = {}): { step: (x: tf.Tensor4D) => Promise<number>; dispose: () => void } {
  const optimizer = options.optimizer ?? tf.train.adam(1e-4);
  const vars = model.namedVariables().map((v) => v.variable);
  const loss = options.loss ?? ((z: tf.Tensor2D) => tf.mean(tf.square(z)) as tf.Scalar);
  const step = async (x: tf.Tensor4D): Promise<number> => {
    try {
      return await runStep(x);
    } catch (err) {
      throw explainWasmFailure(err, `the training step (${Math.min(options.microBatch ?? x.shape[0], x.shape[0])} images per forward pass)`);
    }
  };
  const runStep = async (x: tf.Tensor4D): Promise<number> => {
    const b = x.shape[0];
    const mb = Math.min(options.microBatch ?? b, b);
    if (!(Number.isInteger(mb) && mb > 0)) throw new HierError('E_CONFIG', `createTrainStep: microBatch must be a positive integer, got ${options.microBatch}`);
    let acc: Record<string, tf.Tensor> | null = null;
    let total = 0;
    for (let s = 0; s < b; s += mb) {
      const n = Math.min(mb, b - s);
      const xs = n === b ? x : tf.slice(x, [s, 0, 0, 0], [n, -1, -1, -1]);
      const { value, grads } = tf.variableGrads(() => tf.mul(loss(model.embed(xs, 'train')), n / b) as tf.Scalar, vars);
      if (xs !== x) xs.dispose();
      total += (await value.data())[0]!;
      value.dispose();
      if (!acc) acc = grads;
      else {
        for (const k of Object.keys(grads)) {
          const sum = tf.add(acc[k]!, grads[k]!);
          acc[k]!.dispose();
          grads[k]!.dispose();
          acc[k] = sum;
        }
      }
    }
    if (acc) {
      optimizer.applyGradients(acc as tf.NamedTensorMap);
      tf.dispose(Object.values(acc));
    }
    return total;
  };
  return { step, dispose: () => optimizer.dispose() };
}

/**
 * Floating-point work per image of `createTrainStep`'s step for `model` (convolutions and matrix products, forward and
 * backward; `countFlops`), measured by running one step on `images` random inputs of [size, size, channels]. The
 * step updates the model's weights: pass a model made for the purpose.
 */
export async function trainStepFlopsPerImage(model: HierModel, size: number, channels = 3, images = 2): Promise<{ perImage: number; byKernel: Record<string, number> }> {
  const x = tf.randomNormal([images, size, size, channels]) as tf.Tensor4D;
  const { step, dispose } = createTrainStep(model);
  try {
    const { flops, byKernel } = await countFlops(() => step(x));
    return { perImage: flops / images, byKernel: Object.fromEntries(Object.entries(byKernel).map(([k, v]) => [k, v / images])) };
  } finally {
    dispose();
    x.dispose();
  }
}
