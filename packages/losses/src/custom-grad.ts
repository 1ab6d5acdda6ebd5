import { tf } from '@hier-ts/engine';

export interface UnaryGradResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor;
}

/** tf.customGrad for a single-input function, typed (tfjs types the variadic inputs loosely). */
export function unaryCustomGrad(f: (x: tf.Tensor, save: tf.GradSaveFunc) => UnaryGradResult): (x: tf.Tensor) => tf.Tensor {
  const g = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => f(args[0] as tf.Tensor, args[1] as tf.GradSaveFunc)) as never);
  return (x: tf.Tensor) => (g as unknown as (t: tf.Tensor) => tf.Tensor)(x);
}
