import { batchNormTrain, channelAffine, tf } from '@hier-ts/engine';
import type { ParamStore } from './params.js';

export type Mode = 'train' | 'eval';

/**
 * Receives named intermediate tensors during a forward pass (parity and debugging). `layout` says how to turn the
 * tensor back into PyTorch layout: NHWC maps become NCHW; token and plain tensors are already in PyTorch order.
 * A tap that wants to keep a tensor must `tf.keep(t.clone())` it: the forward runs inside tf.tidy.
 */
export type Tap = (name: string, t: tf.Tensor, layout: 'nhwc' | 'plain') => void;

/** Conv with PyTorch's symmetric zero padding (a numeric pad, never TF 'same', which pads asymmetrically at stride 2). */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor, stride: number, pad: number, bias?: tf.Tensor): tf.Tensor4D {
  const y = tf.conv2d(x, w as tf.Tensor4D, stride, pad);
  return bias ? tf.add(y, bias) : y;
}

export interface BatchNormOptions {
  mode: Mode;
  /** HIER bn_freeze: running statistics are used and kept in train mode too (affine stays trainable). */
  frozen: boolean;
  eps?: number;
  momentum?: number;
  /** Update the running statistics in train mode (default true). */
  updateStats?: boolean;
  /** Follow with a ReLU (fused into the folded affine map when frozen or evaluating). */
  relu?: boolean;
  /** Add this (a ResNet shortcut) before the ReLU (fused likewise). */
  residual?: tf.Tensor4D;
}

/** BatchNorm2d on NHWC with the PyTorch names `<prefix>.weight/bias/running_mean/running_var`. */
export function batchNorm(x: tf.Tensor4D, p: ParamStore, prefix: string, o: BatchNormOptions): tf.Tensor4D {
  const eps = o.eps ?? 1e-5;
  const gamma = p.get(`${prefix}.weight`);
  const beta = p.get(`${prefix}.bias`);
  const rm = p.get(`${prefix}.running_mean`);
  const rv = p.get(`${prefix}.running_var`);
  if (o.mode === 'eval' || o.frozen) {
    // Folded into one per-channel scale and shift, with the ReLU that follows: @hier-ts/engine's channelAffine runs
    // forward and backward as one pass each on wasm, where FusedBatchNorm's gradient tiles the statistics and the
    // composed ops cost six to eight passes.
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(rv, eps)));
    return channelAffine(x, scale, tf.sub(beta, tf.mul(rm, scale)), o.relu ?? false, o.residual) as tf.Tensor4D;
  }
  // The engine's closed-form backward avoids FusedBatchNorm's tiled gradient; its statistics carry no gradient.
  const { y, mean, variance, count: n } = batchNormTrain(x, gamma as tf.Variable<tf.Rank.R1>, beta as tf.Variable<tf.Rank.R1>, eps);
  const m = o.momentum ?? 0.1;
  const sum = o.residual ? tf.add(y, o.residual) : y;
  const out = (o.relu ? tf.relu(sum) : sum) as tf.Tensor4D;
  if (o.updateStats === false) {
    tf.dispose([mean, variance]);
    return out;
  }
  // PyTorch updates the running variance with the unbiased batch variance and normalises with the biased one.
  const newMean = tf.tidy(() => tf.add(tf.mul(rm, 1 - m), tf.mul(mean, m)));
  const newVar = tf.tidy(() => tf.add(tf.mul(rv, 1 - m), tf.mul(variance, (m * n) / Math.max(n - 1, 1))));
  rm.assign(newMean);
  rv.assign(newVar);
  tf.dispose([newMean, newVar, mean, variance]);
  return out;
}

/** y = x·W + b with W stored [in, out]; any leading shape. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = w.shape[1]!;
  const lead = x.shape.slice(0, -1);
  const y2 = tf.matMul(x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, inDim]), w as tf.Tensor2D);
  const y = b ? tf.add(y2, b) : y2;
  return x.rank === 2 ? y : tf.reshape(y, [...lead, outDim]);
}

/**
 * LayerNorm (torch.nn.LayerNorm, closed-form backward) and exact GELU (backward that keeps only x): @hier-ts/engine's,
 * which the ViT blocks and the head use as they are.
 */
export { gelu, layerNorm } from '@hier-ts/engine';
