import { tf } from './tf.js';
import { geluOnWasmHeap } from './wasm-kernels/gelu-heap.js';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (the tanh form is off by ~2e-4), with a hand-written backward
 * dx = dy·(Φ(x) + x·φ(x)).
 *
 * Why: autograd through the composed formula holds ~12 input-sized tensors per call between forward and backward
 * (the intermediates, the constants broadcast for their gradients), this ~3. A ViT's MLP hidden layer is 4× its
 * token width, so that was a large share of a ViT training step's activation memory: ViT-S@224 went from 2.5 to
 * 1.9 GB of wasm heap at 4 images, and 8 images now fit in the 4 GB heap (3.4 GB) instead of running out.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xi]);
    return {
      value: geluOnWasmHeap(xi) ?? tf.tidy(() => tf.mul(tf.mul(xi, 0.5), tf.add(1, tf.erf(tf.mul(xi, Math.SQRT1_2))))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xs] = saved as [tf.Tensor];
          const onHeap = geluOnWasmHeap(xs, dy);
          if (onHeap) return onHeap;
          const cdf = tf.mul(tf.add(1, tf.erf(tf.mul(xs, Math.SQRT1_2))), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), INV_SQRT_2PI);
          return tf.mul(dy, tf.add(cdf, tf.mul(xs, pdf)));
        }),
    };
  });
  return op(x);
}
