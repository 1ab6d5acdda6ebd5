/**
 * Autograd helpers and the rules tfjs imposes (platform notes, TF.js §4), in one place:
 * - tf.topk, comparisons, Range, StridedSlice, GatherNd, ScatterNd, Unique, Sort and Einsum have no gradient:
 *   take indices from them and `gather` the values from a differentiable tensor instead.
 * - gather indices must be int32 computed outside the tape (or detached).
 * - there is no stopGradient in tfjs: use `detach`.
 * - never return a typed array from tf.tidy (tidy walks the returned value): read data outside it.
 * - prefer async `data()`; sync reads fail on webgpu in Node.
 */
import { tf } from './tf.js';

/**
 * Identity in the forward pass and a gradient barrier in the backward pass (PyTorch's `.detach()`).
 * The result shares the input's buffer without being recorded on the tape. The backend's reference count is
 * raised first; without that, disposing the result would free the caller's buffer (a use-after-free that
 * shows up as a tensor "leak").
 */
export function detach<T extends tf.Tensor>(x: T): T {
  const engine = tf.engine();
  engine.backend.incRef(x.dataId);
  const t = engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }) as T;
  return t;
}

/**
 * Straight-through value substitution: forward value of `hard`, gradient of `soft`
 * (`hard - detach(soft) + soft`, computed so the forward value is exactly `hard`'s where representable).
 */
export function straightThrough<T extends tf.Tensor>(hard: T, soft: T): T {
  return tf.tidy(() => tf.add(tf.sub(hard, detach(soft)), soft) as T);
}

/** Reads a tensor's values without ever returning a typed array from inside tf.tidy. */
export async function readFloat32(x: tf.Tensor): Promise<Float32Array> {
  const data = await x.data();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}
