/**
 * Poincaré-ball operations at parity with hyptorch `pmath` as HIER uses it (spec §1). Every function is pure,
 * takes float32 tensors with points on the last axis and a curvature magnitude c > 0, and disposes its
 * intermediates. Constants (1e−5 norm floors, the +1e−5 Möbius denominator, the ±15 tanh clamp and the
 * (1 − 1e−3)/√c projection radius) are the official ones, because parity depends on them.
 */
import { detach, tf } from '@hier-ts/engine';
import { artanh } from './artanh.js';
import { safeNorm, safeSqrt } from './norm.js';
import { checkCurvature, checkPoints, checkSameWidth } from './validate.js';

/** Norm floor used by expmap0, logmap0 and project. */
export const MIN_NORM = 1e-5;
/** Relative margin of `project`: points are kept within (1 − 1e−3)/√c. */
export const BALL_EPS = 1e-3;
/** Added to every Möbius denominator by the official code. */
export const MOBIUS_EPS = 1e-5;

function tanhClamped(t: tf.Tensor): tf.Tensor {
  return tf.tanh(tf.clipByValue(t, -15, 15));
}

/** Rescales rows whose norm exceeds (1 − 1e−3)/√c onto that radius; other rows pass unchanged. */
export function project<T extends tf.Tensor>(x: T, c: number): T {
  checkPoints(x, 'x', 'project');
  checkCurvature(c, 'project');
  return tf.tidy(() => {
    const norm = tf.maximum(safeNorm(x), MIN_NORM);
    const maxnorm = (1 - BALL_EPS) / Math.sqrt(c);
    const projected = tf.mul(tf.div(x, norm), maxnorm);
    // Comparisons have no gradient in tfjs: decide the branch on a detached copy.
    const outside = tf.greater(detach(norm), maxnorm);
    return tf.where(tf.broadcastTo(outside, x.shape), projected, x) as T;
  });
}

/** Exponential map at the origin: tanh(√c‖u‖)·u/(√c‖u‖), with the norm floored at 1e−5. */
export function expmap0<T extends tf.Tensor>(u: T, c: number): T {
  checkPoints(u, 'u', 'expmap0');
  checkCurvature(c, 'expmap0');
  return tf.tidy(() => {
    const sqrtC = Math.sqrt(c);
    const scaled = tf.mul(tf.maximum(safeNorm(u), MIN_NORM), sqrtC);
    return tf.mul(tf.div(tanhClamped(scaled), scaled), u) as T;
  });
}

/** Logarithmic map at the origin (inverse of expmap0 inside the ball). */
export function logmap0<T extends tf.Tensor>(y: T, c: number): T {
  checkPoints(y, 'y', 'logmap0');
  checkCurvature(c, 'logmap0');
  return tf.tidy(() => {
    const sqrtC = Math.sqrt(c);
    const n = tf.maximum(safeNorm(y), MIN_NORM);
    return tf.mul(tf.div(y, tf.mul(n, sqrtC)), artanh(tf.mul(n, sqrtC))) as T;
  });
}

/** Möbius addition x ⊕_c y of same-shaped tensors, with the official +1e−5 in the denominator. */
export function mobiusAdd<T extends tf.Tensor>(x: T, y: T, c: number): T {
  checkPoints(x, 'x', 'mobiusAdd');
  checkPoints(y, 'y', 'mobiusAdd');
  checkCurvature(c, 'mobiusAdd');
  if (x.shape.join(',') !== y.shape.join(',')) {
    checkSameWidth(x, y, 'x', 'y', 'mobiusAdd');
  }
  return tf.tidy(() => {
    const x2 = tf.sum(tf.square(x), -1, true);
    const y2 = tf.sum(tf.square(y), -1, true);
    const xy = tf.sum(tf.mul(x, y), -1, true);
    const a = tf.add(tf.add(1, tf.mul(2 * c, xy)), tf.mul(c, y2));
    const b = tf.sub(1, tf.mul(c, x2));
    const num = tf.add(tf.mul(a, x), tf.mul(b, y));
    const den = tf.add(tf.add(1, tf.mul(2 * c, xy)), tf.mul(c * c, tf.mul(x2, y2)));
    return tf.div(num, tf.add(den, MOBIUS_EPS)) as T;
  });
}

/** Hyperbolic distance to the origin, (2/√c)·artanh(√c‖x‖) (no epsilon in this form). Shape: x without its last axis. */
export function distToOrigin(x: tf.Tensor, c: number): tf.Tensor {
  checkPoints(x, 'x', 'distToOrigin');
  checkCurvature(c, 'distToOrigin');
  return tf.tidy(() => {
    const sqrtC = Math.sqrt(c);
    const n = tf.squeeze(safeNorm(x), [-1]);
    return tf.mul(artanh(tf.mul(n, sqrtC)), 2 / sqrtC);
  });
}

export interface DistMatrixOptions {
  /**
   * Treat x and y as the same point set (rows i of x and y identical), so the diagonal is exactly 0 with zero
   * gradient. Defaults to `x === y`. The official diagonal is rounding noise (≈1e−7) whose gradient is
   * negligible (golden `diag_gradient_check`); without this the inner-product form would leave a
   * cancellation residue of ≈1e−3 there.
   */
  self?: boolean;
}

/**
 * Pairwise Poincaré distances D[i, j] = (2/√c)·artanh(√c‖(−x_i) ⊕_c y_j‖) with the official +1e−5 in the
 * Möbius denominator (spec §1.5). x: [n, d], y: [m, d] → [n, m].
 *
 * The official code materialises the n×m×d Möbius numerators. Here ‖num_ij‖² is expanded in inner products,
 * so memory is O(n·m) and the cost is one matmul. With p = ⟨x_i, y_j⟩, e = ‖x_i − y_j‖² = x2 + y2 − 2p and
 * B = 1 − c·x2, num = B(y − x) − c·e·x, hence ‖num‖² = e·(B² − 2Bc(p − x2) + c²·e·x2). Factoring e out keeps
 * the result accurate for near points, where the textbook A²x2 + 2AB⟨a,y⟩ + B²y2 loses everything to
 * cancellation. Gradients come from tf autograd (plus the artanh and sqrt custom gradients).
 */
export function distMatrix(x: tf.Tensor2D, y: tf.Tensor2D, c: number, options: DistMatrixOptions = {}): tf.Tensor2D {
  checkPoints(x, 'x', 'distMatrix', 2, 2);
  checkPoints(y, 'y', 'distMatrix', 2, 2);
  checkSameWidth(x, y, 'x', 'y', 'distMatrix');
  checkCurvature(c, 'distMatrix');
  const self = options.self ?? x === y;
  if (self && x.shape[0] !== y.shape[0]) {
    checkSameWidth(x.transpose(), y.transpose(), 'x (rows)', 'y (rows)', 'distMatrix(self)');
  }
  return tf.tidy(() => {
    const sqrtC = Math.sqrt(c);
    const x2 = tf.sum(tf.square(x), 1, true); // [n,1]
    const y2 = tf.reshape(tf.sum(tf.square(y), 1), [1, -1]); // [1,m]
    const p = tf.matMul(x, tf.transpose(y)); // [n,m]
    let e = tf.relu(tf.sub(tf.add(x2, y2), tf.mul(2, p)));
    if (self) {
      const n = x.shape[0];
      e = tf.mul(e, tf.sub(1, tf.eye(n)));
    }
    const b = tf.sub(1, tf.mul(c, x2)); // [n,1]
    const q = tf.add(
      tf.sub(tf.square(b), tf.mul(tf.mul(2 * c, b), tf.sub(p, x2))),
      tf.mul(c * c, tf.mul(e, x2)),
    );
    const numNorm = safeSqrt(tf.mul(e, q));
    const den = tf.add(tf.sub(1, tf.mul(2 * c, p)), tf.mul(c * c, tf.mul(x2, y2)));
    const t = tf.div(tf.mul(numNorm, sqrtC), tf.add(den, MOBIUS_EPS));
    return tf.mul(artanh(t), 2 / sqrtC) as tf.Tensor2D;
  });
}
