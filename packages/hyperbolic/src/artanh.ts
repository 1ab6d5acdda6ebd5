import { tf } from '@hier-ts/engine';
import { unaryCustomGrad } from './custom-grad.js';

/** The clamp bound of hyptorch's artanh: |t| <= 1 - 1e-5. */
export const ARTANH_BOUND = 1 - 1e-5;

/**
 * artanh with hyptorch's clamp to ±(1 − 1e−5) and its custom backward g / (1 − t'²) evaluated at the clamped
 * value and passed through even where the clamp is active (it is never zeroed; spec §1.1). Keeping that
 * straight-through behaviour is what makes gradients match near the ball boundary.
 */
export function artanh(x: tf.Tensor): tf.Tensor {
  const f = unaryCustomGrad((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    const t = tf.clipByValue(xi, -ARTANH_BOUND, ARTANH_BOUND);
    save([t]);
    const value = tf.mul(0.5, tf.sub(tf.log1p(t), tf.log1p(tf.neg(t))));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const ts = saved[0] as tf.Tensor;
        return tf.div(dy, tf.sub(1, tf.square(ts)));
      },
    };
  });
  return f(x);
}
