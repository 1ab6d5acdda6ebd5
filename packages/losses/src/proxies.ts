import type { Rng } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';

/** Kaiming-normal, mode fan_out, gain √2 for a [C, D] proxy matrix: i.i.d. N(0, 2/C) (torch's fan_out = C). */
export function kaimingNormalFanOut(rows: number, cols: number, rng: Rng): tf.Tensor2D {
  const std = Math.sqrt(2 / rows);
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
  return tf.tensor2d(v, [rows, cols]);
}

/** Kaiming-uniform with a = √5 for a 2-D weight whose torch fan_in is `fanIn`: U(±1/√fanIn). */
export function kaimingUniformSqrt5(rows: number, cols: number, fanIn: number, rng: Rng): tf.Tensor2D {
  const bound = 1 / Math.sqrt(fanIn);
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.uniform(-bound, bound);
  return tf.tensor2d(v, [rows, cols]);
}

/** A float32 [B, C] one-hot matrix from integer labels. */
export function oneHotMatrix(labels: Int32Array, classes: number): tf.Tensor2D {
  const v = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) v[i * classes + labels[i]] = 1;
  return tf.tensor2d(v, [labels.length, classes]);
}

/** [B, B] float32 same-label matrix. */
export function sameLabelMatrix(labels: Int32Array): tf.Tensor2D {
  const n = labels.length;
  const v = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) v[i * n + j] = labels[i] === labels[j] ? 1 : 0;
  return tf.tensor2d(v, [n, n]);
}

/**
 * A trainable tf.Variable registered under `name`, or `name#k` when another live variable already holds that
 * name (tfjs refuses duplicate names; two losses of one kind may coexist). The stable logical name is what
 * `namedVariables()` reports.
 */
export function trainableVariable(init: tf.Tensor2D, name: string): tf.Variable<tf.Rank.R2> {
  const registered = tf.engine().registeredVariables;
  let unique = name;
  for (let k = 1; unique in registered; k++) unique = `${name}#${k}`;
  const v = tf.variable(init, true, unique) as tf.Variable<tf.Rank.R2>;
  init.dispose();
  return v;
}
