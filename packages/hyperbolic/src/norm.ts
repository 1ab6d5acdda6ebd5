import { tf } from '@hier-ts/engine';
import { unaryCustomGrad } from './custom-grad.js';

/**
 * L2 norm over the last axis (keepDims). Its gradient at an all-zero row is 0, as torch.norm's is; the naive
 * sqrt(sum(x^2)) would give 0/0 = NaN there, and 0·NaN poisons every gradient it touches.
 */
export function safeNorm(x: tf.Tensor): tf.Tensor {
  const f = unaryCustomGrad((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const n = tf.sqrt(tf.sum(tf.square(xi), -1, true));
    save([xi, n]);
    return {
      value: n,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ns] = saved as [tf.Tensor, tf.Tensor];
        const positive = tf.greater(ns, 0);
        const inv = tf.where(positive, tf.reciprocal(tf.where(positive, ns, tf.onesLike(ns))), tf.zerosLike(ns));
        return tf.mul(xs, tf.mul(dy, inv));
      },
    };
  });
  return f(x);
}

/**
 * sqrt(max(s, 0)) with gradient 0 where s <= 0 (same convention as `safeNorm` for a squared norm that
 * rounding pushed to or below zero).
 */
export function safeSqrt(s: tf.Tensor): tf.Tensor {
  const f = unaryCustomGrad((si: tf.Tensor, save: tf.GradSaveFunc) => {
    const r = tf.sqrt(tf.relu(si));
    save([r]);
    return {
      value: r,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const rs = saved[0] as tf.Tensor;
        const positive = tf.greater(rs, 0);
        const half = tf.div(0.5, tf.where(positive, rs, tf.onesLike(rs)));
        return tf.where(positive, tf.mul(dy, half), tf.zerosLike(rs));
      },
    };
  });
  return f(s);
}

/** Veltkamp splitter for float32 (2^12 + 1): x = hi + lo with hi holding the top 12 significand bits. */
const SPLITTER = 4097;

function twoSum(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const s = tf.add(a, b);
  const bb = tf.sub(s, a);
  const err = tf.add(tf.sub(a, tf.sub(s, bb)), tf.sub(b, bb));
  return [s, err];
}

function twoSquare(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const p = tf.square(x);
  const t = tf.mul(x, SPLITTER);
  const hi = tf.sub(t, tf.sub(t, x));
  const lo = tf.sub(x, hi);
  const err = tf.add(tf.add(tf.sub(tf.square(hi), p), tf.mul(tf.mul(2, hi), lo)), tf.square(lo));
  return [p, err];
}

/**
 * The row norm (last axis, keepDims) to about float32 rounding of the exact value, without gradient.
 * Squares are split exactly (Dekker) and summed pairwise in float-float (TwoSum), then one Newton step
 * corrects the square root. A plain float32 reduction can be 1 ulp off, which matters only where a branch
 * depends on the norm at an exact tie, such as ToPoincare's clip at ‖x‖ + 1e−5 = clip_r, where torch.minimum
 * splits the gradient 50/50.
 */
export function accurateNorm(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[x.rank - 1];
    const rows = x.size / Math.max(d, 1);
    let width = 1;
    while (width < d) width *= 2;
    let v = tf.reshape(x, [rows, d]);
    if (width > d) v = tf.pad(v, [[0, 0], [0, width - d]]);
    let [hi, lo] = twoSquare(v);
    while (width > 1) {
      width /= 2;
      const h = tf.reshape(hi, [rows, width, 2]);
      const l = tf.reshape(lo, [rows, width, 2]);
      const [h0, h1] = tf.unstack(h, 2);
      const [l0, l1] = tf.unstack(l, 2);
      const [s, e] = twoSum(h0, h1);
      hi = s;
      lo = tf.add(tf.add(l0, l1), e);
    }
    const [s, e] = twoSum(hi, lo);
    const n0 = tf.sqrt(s);
    const [p, pe] = twoSquare(n0);
    const residual = tf.add(tf.sub(tf.sub(s, p), pe), e);
    const safe = tf.where(tf.greater(n0, 0), n0, tf.onesLike(n0));
    const n = tf.where(tf.greater(n0, 0), tf.add(n0, tf.div(residual, tf.mul(2, safe))), n0);
    return tf.reshape(n, [...x.shape.slice(0, -1), 1]);
  });
}
