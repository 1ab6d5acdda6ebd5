import { HierError } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';

/** A row-major [rows × dim] float32 matrix; every function in this package works on it. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** What the public functions accept: a Matrix, a 2-D tensor, or a flat Float32Array plus its width. */
export type MatrixLike = Matrix | tf.Tensor2D;

/**
 * Normalises any accepted embedding input to a Matrix (tensors are read asynchronously: sync reads fail on
 * webgpu) and rejects empty inputs and non-finite rows, naming `what` and the first offending rows.
 */
export async function toMatrix(x: MatrixLike, what: string): Promise<Matrix> {
  let m: Matrix;
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new HierError('E_SHAPE', `${what} must be a 2-D tensor [n, d]; got shape [${x.shape.join(', ')}]`);
    const data = await x.data();
    m = { data: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>), rows: x.shape[0], dim: x.shape[1] };
  } else {
    m = x;
  }
  checkMatrix(m, what);
  return m;
}

/** Wraps a flat array as a Matrix, checking that its length is a multiple of `dim`. */
export function matrix(data: Float32Array, dim: number, what = 'embeddings'): Matrix {
  if (!Number.isInteger(dim) || dim <= 0) throw new HierError('E_SHAPE', `${what}: dim must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) {
    throw new HierError('E_SHAPE', `${what}: Float32Array of length ${data.length} is not a multiple of dim ${dim}`);
  }
  return { data, rows: data.length / dim, dim };
}

export function checkMatrix(m: Matrix, what: string): void {
  if (m.rows <= 0 || m.dim <= 0) throw new HierError('E_EMPTY', `${what} is empty (shape [${m.rows}, ${m.dim}])`);
  if (m.data.length !== m.rows * m.dim) {
    throw new HierError('E_SHAPE', `${what}: data length ${m.data.length} does not match shape [${m.rows}, ${m.dim}]`);
  }
  const bad: number[] = [];
  let badCount = 0;
  const { data, dim } = m;
  for (let i = 0; i < m.rows; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) {
      if (!Number.isFinite(data[o + j]!)) {
        badCount++;
        if (bad.length < 10) bad.push(i);
        break;
      }
    }
  }
  if (badCount > 0) {
    throw new HierError(
      'E_NAN',
      `${what} [${m.rows}, ${m.dim}] has ${badCount} row(s) with NaN/Inf values, first rows: ${bad.join(', ')}${badCount > bad.length ? ', …' : ''}`,
    );
  }
}

export function checkLabels(labels: ArrayLike<number>, rows: number, what: string, embeddingsWhat: string): void {
  if (labels.length !== rows) {
    throw new HierError('E_SHAPE', `${what} has ${labels.length} entries but ${embeddingsWhat} has ${rows} rows`);
  }
}

/** Squared L2 norm of every row. */
export function rowSqNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  const { data, dim } = m;
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    const o = i * dim;
    for (let j = 0; j < dim; j++) s += data[o + j]! * data[o + j]!;
    out[i] = s;
  }
  return out;
}

/** Rows scaled to unit L2 norm (zero rows stay zero). */
export function l2Normalize(m: Matrix): Matrix {
  const out = new Float32Array(m.data.length);
  const norms = rowSqNorms(m);
  for (let i = 0; i < m.rows; i++) {
    const n = Math.sqrt(norms[i]!);
    const inv = n > 0 ? 1 / n : 0;
    const o = i * m.dim;
    for (let j = 0; j < m.dim; j++) out[o + j] = m.data[o + j]! * inv;
  }
  return { data: out, rows: m.rows, dim: m.dim };
}
