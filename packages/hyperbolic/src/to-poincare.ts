import { detach, tf } from '@hier-ts/engine';
import { unaryCustomGrad } from './custom-grad.js';
import { HierError } from '@hier-ts/core';
import { expmap0, project } from './poincare.js';
import { accurateNorm, safeNorm } from './norm.js';
import { checkCurvature, checkPoints } from './validate.js';

/** Additive epsilon of the feature clip (‖x‖ + 1e−5, not a clamp; spec §1.7). */
export const CLIP_EPS = 1e-5;

export interface ToPoincareOptions {
  /** Curvature magnitude (HIER: 0.1). */
  c: number;
  /** Feature clipping radius before expmap0 (HIER: 2.3); null or undefined disables clipping. */
  clipR?: number | null;
  /** Rescale the backward pass by (1 − c‖y‖²)²/4 (HIER: true everywhere; the Hyp baseline: false). */
  riemannian?: boolean;
}

/**
 * Identity forward; the backward multiplies each row's gradient by (1 − c‖y‖²)²/4, the inverse Poincaré
 * metric factor at y, turning Euclidean gradients into Riemannian ones (spec §1.6).
 */
export function riemannianGradient<T extends tf.Tensor>(y: T, c: number): T {
  checkPoints(y, 'y', 'riemannianGradient');
  checkCurvature(c, 'riemannianGradient');
  const f = unaryCustomGrad((yi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([yi]);
    return {
      value: tf.clone(yi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const ys = saved[0] as tf.Tensor;
        const factor = tf.div(tf.square(tf.sub(1, tf.mul(c, tf.sum(tf.square(ys), -1, true)))), 4);
        return tf.mul(dy, factor);
      },
    };
  });
  return f(y) as T;
}

/**
 * hyptorch `ToPoincare` without trainable c or base point: clip rows to norm clipR (factor
 * min(1, clipR/(‖x‖ + 1e−5))), expmap0, project, then optionally the Riemannian-gradient rescale.
 * At an exact tie clipR/(‖x‖+1e−5) = 1 the gradient is split 50/50 between the two branches, as
 * `torch.minimum` does.
 */
export function toPoincare<T extends tf.Tensor>(x: T, options: ToPoincareOptions): T {
  checkPoints(x, 'x', 'toPoincare');
  if (options == null || typeof options !== 'object') {
    throw new HierError('E_ARG', `toPoincare: options {c, clipR?, riemannian?} are required, got ${String(options)}`);
  }
  const { c, clipR = null, riemannian = false } = options;
  checkCurvature(c, 'toPoincare');
  if (clipR !== null && !(Number.isFinite(clipR) && clipR > 0)) {
    throw new HierError('E_ARG', `toPoincare: clipR must be a finite number > 0 or null, got ${String(clipR)}`);
  }
  return tf.tidy(() => {
    let u: tf.Tensor = x;
    if (clipR !== null) {
      // torch evaluates `clip_r / x_norm` as reciprocal(x_norm)·clip_r; the rounding decides the branch for rows
      // sitting at the clip radius, so do the same.
      // The forward value uses an accurately rounded norm (so exact ties happen where torch's do), the
      // gradient that of the plain norm.
      const plain = safeNorm(x);
      const norm = tf.add(plain, tf.sub(accurateNorm(detach(x)), detach(plain)));
      const ratio = tf.mul(tf.reciprocal(tf.add(norm, CLIP_EPS)), clipR);
      // Gradient weight of the ratio branch: 1 below the tie, 0.5 at it, 0 above (torch.minimum semantics).
      const r = detach(ratio);
      const weight = tf.add(tf.cast(tf.less(r, 1), 'float32'), tf.mul(0.5, tf.cast(tf.equal(r, 1), 'float32')));
      const fac = tf.add(tf.mul(ratio, weight), tf.sub(1, weight));
      u = tf.mul(x, fac);
    }
    const y = project(expmap0(u, c), c);
    return (riemannian ? riemannianGradient(y, c) : y) as T;
  });
}
