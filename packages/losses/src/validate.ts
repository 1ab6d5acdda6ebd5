import { HierError } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';

function shapeOf(t: { shape?: readonly number[] } | null | undefined): string {
  return t && Array.isArray(t.shape) ? `[${t.shape.join(', ')}]` : String(t);
}

/**
 * Checks a [B, D] float32 embedding tensor (width `dim` when given) and that it holds no NaN/Inf. The finiteness
 * check reads back one scalar (sum(z·0) is NaN exactly when some entry is NaN or ±Inf).
 */
export function checkEmbeddings(z: tf.Tensor, loss: string, dim?: number, name = 'z'): void {
  if (z == null || typeof (z as { rank?: unknown }).rank !== 'number') {
    throw new HierError('E_ARG', `${loss}: '${name}' must be a tf.Tensor, got ${typeof z}`);
  }
  if (z.rank !== 2) throw new HierError('E_SHAPE', `${loss}: '${name}' must be [batch, dim], got shape ${shapeOf(z)}`);
  if (z.dtype !== 'float32') throw new HierError('E_DTYPE', `${loss}: '${name}' must be float32, got ${z.dtype} ${shapeOf(z)}`);
  if (dim !== undefined && z.shape[1] !== dim) {
    throw new HierError('E_SHAPE', `${loss}: '${name}' has width ${z.shape[1]} (shape ${shapeOf(z)}) but the loss was built for dim ${dim}`);
  }
  checkFinite(z, loss, name);
}

export function checkFinite(t: tf.Tensor, loss: string, name: string): void {
  const probe = tf.tidy(() => tf.sum(tf.mul(t, 0)));
  const v = probe.dataSync()[0];
  probe.dispose();
  if (!Number.isFinite(v)) {
    throw new HierError('E_NONFINITE', `${loss}: '${name}' ${shapeOf(t)} contains NaN or Inf values`);
  }
}

/**
 * Validates labels against the batch size and returns them as an Int32Array. Accepts an int32 tensor, a float32
 * tensor of integral values, or an integer array.
 */
export function readLabels(labels: tf.Tensor | ArrayLike<number>, batch: number, loss: string, numClasses?: number): Int32Array {
  let values: ArrayLike<number>;
  let shape: string;
  if (labels != null && typeof (labels as tf.Tensor).rank === 'number') {
    const t = labels as tf.Tensor;
    if (t.rank !== 1) throw new HierError('E_SHAPE', `${loss}: 'labels' must be rank 1 [batch], got shape ${shapeOf(t)}`);
    values = t.dataSync();
    shape = shapeOf(t);
  } else if (labels != null && typeof (labels as ArrayLike<number>).length === 'number') {
    values = labels as ArrayLike<number>;
    shape = `[${values.length}]`;
  } else {
    throw new HierError('E_ARG', `${loss}: 'labels' must be a tf.Tensor1D or an integer array, got ${typeof labels}`);
  }
  if (values.length !== batch) {
    throw new HierError('E_SHAPE', `${loss}: 'labels' has ${values.length} entries (shape ${shape}) but the batch has ${batch} rows`);
  }
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) throw new HierError('E_LABELS', `${loss}: labels[${i}] = ${v} is not an integer`);
    if (v < 0) throw new HierError('E_LABELS', `${loss}: labels[${i}] = ${v} is negative`);
    if (numClasses !== undefined && v >= numClasses) {
      throw new HierError('E_LABELS', `${loss}: labels[${i}] = ${v} is out of range for ${numClasses} classes`);
    }
    out[i] = v;
  }
  return out;
}

export function checkPositive(v: number, name: string, loss: string, allowZero = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new HierError('E_ARG', `${loss}: option '${name}' must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(v)}`);
  }
}

export function checkInt(v: number, name: string, loss: string, min = 1): void {
  if (!Number.isInteger(v) || v < min) {
    throw new HierError('E_ARG', `${loss}: option '${name}' must be an integer >= ${min}, got ${String(v)}`);
  }
}
