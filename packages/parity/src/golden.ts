/**
 * Reading golden documents (schema_version 1, /work/shared/golden/README.md) and comparing results with the
 * tolerance rule max|a − b| <= atol + rtol·max|ref|.
 */
import { HierError } from '@hier-ts/core';
import type { ParityComparison } from '@hier-ts/engine';
import { tf } from '@hier-ts/engine';

export interface GoldenTensor {
  shape: number[];
  dtype: string;
  data: number[];
}

/** Float32 comparisons: the golden README's recommended rule for a float32 implementation. */
export const F32_ATOL = 1e-6;
export const F32_RTOL = 1e-4;
/** HIER gradients sum thousands of hinge terms; the README observes f32-vs-f64 errors up to 4e-5 relative. */
export const HIER_GRAD_RTOL = 1e-3;
/** Entries whose artanh argument is this close to the clamp are ill-conditioned (README: rtol ~2e-2). */
export const ILL_CONDITIONED_RTOL = 2e-2;

export function isGoldenTensor(v: unknown): v is GoldenTensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    Array.isArray((v as GoldenTensor).shape) &&
    Array.isArray((v as GoldenTensor).data) &&
    typeof (v as GoldenTensor).dtype === 'string'
  );
}

/** Follows a dotted path (`grads.sum_out.x`) inside a document; throws naming the file when absent. */
export function getPath(doc: Record<string, unknown>, path: string, file: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(key in (cur as Record<string, unknown>))) {
      throw new HierError('E_GOLDEN', `${file}: missing key '${path}'`);
    }
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function hasPath(doc: Record<string, unknown>, path: string): boolean {
  let cur: unknown = doc;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(key in (cur as Record<string, unknown>))) return false;
    cur = (cur as Record<string, unknown>)[key];
  }
  return true;
}

export function goldenTensor(doc: Record<string, unknown>, path: string, file: string): GoldenTensor {
  const v = getPath(doc, path, file);
  if (!isGoldenTensor(v)) throw new HierError('E_GOLDEN', `${file}: '${path}' is not a tensor {shape, dtype, data}`);
  const n = v.shape.reduce((a, b) => a * b, 1);
  if (v.data.length !== n) {
    throw new HierError('E_GOLDEN', `${file}: '${path}' has ${v.data.length} values but shape [${v.shape.join(', ')}] needs ${n}`);
  }
  return v;
}

/** A golden tensor as a float32 tf tensor (f64 documents are rounded: everything runs in float32). */
export function toTensor(doc: Record<string, unknown>, path: string, file: string): tf.Tensor {
  const g = goldenTensor(doc, path, file);
  return tf.tensor(Float32Array.from(g.data), g.shape, 'float32');
}

/** Integer golden tensor (labels, triplet indices) as an Int32Array. */
export function toInt32(doc: Record<string, unknown>, path: string, file: string): Int32Array {
  const g = goldenTensor(doc, path, file);
  return Int32Array.from(g.data);
}

export function param(doc: Record<string, unknown>, name: string, file: string): number {
  const v = getPath(doc, `params.${name}`, file);
  if (typeof v !== 'number') throw new HierError('E_GOLDEN', `${file}: params.${name} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Compares `actual` with golden `ref`; shape mismatches and non-finite values fail with a note. */
export function compare(
  name: string,
  actual: ArrayLike<number>,
  actualShape: readonly number[],
  ref: GoldenTensor,
  rtol = F32_RTOL,
  atol = F32_ATOL,
  note?: string,
): ParityComparison {
  const refMax = maxAbs(ref.data);
  const tolerance = atol + rtol * refMax;
  if (actualShape.join(',') !== ref.shape.join(',') || actual.length !== ref.data.length) {
    return {
      name,
      maxAbsErr: Number.POSITIVE_INFINITY,
      tolerance,
      pass: false,
      note: `shape [${actualShape.join(', ')}] vs reference [${ref.shape.join(', ')}]`,
    };
  }
  let err = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - ref.data[i]);
    err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
  }
  return { name, maxAbsErr: err, tolerance, pass: err <= tolerance, ...(note ? { note } : {}) };
}

/** Reads a tensor and compares it (async read, never inside tidy). */
export async function compareTensor(
  name: string,
  t: tf.Tensor,
  ref: GoldenTensor,
  rtol = F32_RTOL,
  atol = F32_ATOL,
  note?: string,
): Promise<ParityComparison> {
  const data = await t.data();
  return compare(name, data as Float32Array, t.shape, ref, rtol, atol, note);
}
