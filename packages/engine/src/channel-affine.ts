import { tf } from './tf.js';
import { channelAffineGradOnHeap, channelAffineOnHeap } from './wasm-kernels/channel-affine-heap.js';

/**
 * y = x·scale + shift over the last (channel) axis, then max(0, ·) when `relu`: a frozen or evaluation-mode
 * BatchNorm folded into one per-channel scale and shift, and the ReLU that usually follows it, as one op with a
 * hand-written backward (dx = g·scale, dscale = Σ g·x, dshift = Σ g with g = dy, masked by y > 0 under ReLU).
 *
 * Why: through autograd the same map costs a multiply and an add forward and, backward, dy·scale, dy·x, two channel
 * sums and the ReLU's step and multiply: six to eight passes over an activation per layer. On wasm (channels in
 * fours) the forward and the backward are one SIMD pass each over the heap; elsewhere the same formulas run as tf
 * ops. The forward rounds as tf.add(tf.mul(x, scale), shift) does.
 */
export function channelAffine(x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, relu = false): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, s, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const y =
      channelAffineOnHeap(xi, s, b, relu) ??
      tf.tidy(() => {
        const lin = tf.add(tf.mul(xi, s), b);
        return relu ? tf.relu(lin) : lin;
      });
    save([xi, s, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ss, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const onHeap = channelAffineGradOnHeap(xs, ys, dy, ss, relu);
        if (onHeap) return onHeap;
        return tf.tidy(() => {
          const g = relu ? tf.mul(dy, tf.cast(tf.greater(ys, 0), 'float32')) : dy;
          const axes = [...Array(xs.rank - 1).keys()];
          return [tf.mul(g, ss), tf.sum(tf.mul(g, xs), axes), tf.sum(g, axes)];
        });
      },
    };
  });
  return op(x, scale, shift);
}
