import { HierError } from '@hier-ts/core';
import { tf } from './tf.js';

export interface BatchNormTrainResult {
  /** Normalised, scaled and shifted x (same shape). */
  y: tf.Tensor;
  /** Batch mean per channel (no gradient; for running statistics). */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel (no gradient). PyTorch's running_var uses the unbiased one: × count/(count−1). */
  variance: tf.Tensor1D;
  /** Elements per channel that the statistics were taken over (N·H·W). */
  count: number;
}

/**
 * Training-mode batch normalisation over every axis but the last (NHWC or [N, C]), with a hand-written backward.
 *
 * Why: tfjs differentiates `batchNorm(x, moments(x)...)` through FusedBatchNorm's gradient, which tiles the
 * per-channel vectors to full size (Tile was 17% of a ResNet-50 step on wasm) and through the moments graph.
 * The closed form below needs only broadcasts and two reductions:
 *   dβ = Σdy, dγ = σ⁻¹·Σ dy·(x−μ), dx = γσ⁻¹·(dy − dβ/M − (x−μ)·σ⁻²·dγ·σ/M).
 * The statistics are computed inside the custom op, so they are not recorded on the tape either.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): BatchNormTrainResult {
  const rank = x.rank;
  const c = x.shape[rank - 1] as number;
  if (rank < 2 || gamma.shape.length !== 1 || beta.shape.length !== 1 || gamma.shape[0] !== c || beta.shape[0] !== c) {
    throw new HierError(
      'E_SHAPE',
      `batchNormTrain: x must be rank ≥ 2 with channels last and gamma/beta [C]; got x [${x.shape}], gamma [${gamma.shape}], beta [${beta.shape}]`,
    );
  }
  const axes = [...Array(rank - 1).keys()];
  const count = x.size / c;
  let stats: [tf.Tensor1D, tf.Tensor1D] | null = null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const mean = tf.mean(xi, axes) as tf.Tensor1D;
    const centered = tf.sub(xi, mean);
    const variance = tf.mean(tf.square(centered), axes) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const y = tf.add(tf.mul(centered, tf.mul(g, invStd)), b);
    // The forward runs in the engine's own tidy; keep copies of the statistics so they outlive it.
    stats = [tf.keep(tf.clone(mean)), tf.keep(tf.clone(variance))];
    // The centred input rather than x and μ: the backward needs only x − μ, and recomputing it was a full-size pass.
    save([centered, g, invStd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, gs, inv] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const sumDy = tf.sum(dy, axes);
        const dGamma = tf.mul(tf.sum(tf.mul(dy, cen), axes), inv);
        const k1 = tf.mul(gs, inv);
        const k2 = tf.neg(tf.div(tf.mul(tf.mul(k1, inv), dGamma), count));
        const k3 = tf.neg(tf.div(tf.mul(k1, sumDy), count));
        const dx = tf.add(tf.add(tf.mul(dy, k1), tf.mul(cen, k2)), k3);
        return [dx, dGamma, sumDy];
      },
    };
  });
  const y = op(x, gamma, beta);
  const [keptMean, keptVar] = stats as unknown as [tf.Tensor1D, tf.Tensor1D];
  // Re-home the statistics in the caller's scope (so its tidy disposes them) and drop the kept copies.
  const mean = tf.clone(keptMean);
  const variance = tf.clone(keptVar);
  keptMean.dispose();
  keptVar.dispose();
  return { y, mean, variance, count };
}
