import { HierError } from '@hier-ts/core';
import { tf } from './tf.js';
import { channelAffineGradOnHeap, channelAffineOnHeap } from './wasm-kernels/channel-affine-heap.js';

/**
 * y = x·scale + shift over the last (channel) axis, plus `residual` when given, then max(0, ·) when `relu`: a frozen
 * or evaluation-mode BatchNorm folded into one per-channel scale and shift, with what follows it in a ResNet (the
 * ReLU; at the end of a block, the shortcut and the ReLU). The backward is hand-written: g = dy (masked by y > 0
 * under ReLU), dx = g·scale, dscale = Σ g·x, dshift = Σ g, dresidual = g.
 *
 * Why: through autograd the same map costs a multiply, an add (and the shortcut's add) forward and, backward,
 * dy·scale, dy·x, two channel sums and the ReLU's step and multiply: six to nine passes over an activation per
 * layer. On wasm (channels in fours) forward and backward are one SIMD pass each over the heap; elsewhere the same
 * formulas run as tf ops. The forward rounds as tf.add(tf.add(tf.mul(x, scale), shift), residual) does.
 */
export function channelAffine(x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, relu = false, residual?: tf.Tensor): tf.Tensor {
  // The heap kernels read scale and shift as one value per channel, and the gradients come back in that shape.
  const ch = x.shape[x.rank - 1];
  for (const [name, t] of [['scale', scale], ['shift', shift]] as const) {
    if (t.rank !== 1 || t.shape[0] !== ch) throw new HierError('E_SHAPE', `channelAffine: ${name} must be [${ch}] (one value per channel of x [${x.shape}]), got [${t.shape}]`);
  }
  if (residual && !tf.util.arraysEqual(residual.shape, x.shape)) throw new HierError('E_SHAPE', `channelAffine: residual [${residual.shape}] must have x's shape [${x.shape}]`);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xi, s, b, r] = args.slice(0, -1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const y =
      channelAffineOnHeap(xi, s, b, relu, r) ??
      tf.tidy(() => {
        const affine = tf.add(tf.mul(xi, s), b);
        const lin = r ? tf.add(affine, r) : affine;
        return relu ? tf.relu(lin) : lin;
      });
    save([xi, s, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ss, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const onHeap = channelAffineGradOnHeap(xs, ys, dy, ss, relu, r !== undefined);
        if (onHeap) return onHeap;
        return tf.tidy(() => {
          const g = relu ? tf.mul(dy, tf.cast(tf.greater(ys, 0), 'float32')) : dy;
          const axes = [...Array(xs.rank - 1).keys()];
          const grads = [tf.mul(g, ss), tf.sum(tf.mul(g, xs), axes), tf.sum(g, axes)];
          return r ? [...grads, tf.clone(g)] : grads;
        });
      },
    };
  });
  return residual ? op(x, scale, shift, residual) : op(x, scale, shift);
}
