/** Similarities and distances the losses are built from. */
import { tf } from '@hier-ts/engine';
import { distMatrix } from '@hier-ts/hyperbolic';

/** F.normalize(x, dim=-1, eps=1e−12): x / max(‖x‖, 1e−12). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(x), 1, true));
    return tf.div(x, tf.maximum(norm, 1e-12)) as tf.Tensor2D;
  });
}

/** Cosine similarity matrix [n, m] of the rows of x and y. */
export function cosineSimilarity(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(l2Normalize(x), l2Normalize(y), false, true));
}

/** Dot-product similarity [n, m]. */
export function dotSimilarity(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(x, y, false, true);
}

/** Negated Poincaré distance as a similarity (c > 0), or the dot product when c = 0 (sphere mode). */
export function hyperbolicSimilarity(x: tf.Tensor2D, y: tf.Tensor2D, c: number): tf.Tensor2D {
  return tf.tidy(() => (c > 0 ? (tf.neg(distMatrix(x, y, c)) as tf.Tensor2D) : dotSimilarity(x, y)));
}
