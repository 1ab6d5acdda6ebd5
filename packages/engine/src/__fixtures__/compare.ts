import type { Rng } from '@hier-ts/core';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';

export function randomArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

/** Runs `fn` on one backend and returns its outputs as plain arrays (tensors disposed). */
export async function runOn(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<{ shape: number[]; values: Float32Array }[]> {
  await initBackend(backend);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const res: { shape: number[]; values: Float32Array }[] = [];
  for (const t of list) {
    const d = await t.data();
    res.push({ shape: t.shape, values: Float32Array.from(d as ArrayLike<number>) });
    t.dispose();
  }
  return res;
}

/** max|a−b| / max(1e-3, max|ref|): a scale-free error that does not blow up on tiny entries. */
export function relErr(ref: Float32Array, got: Float32Array): number {
  if (ref.length !== got.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs((ref[i] as number) - (got[i] as number)));
    scale = Math.max(scale, Math.abs(ref[i] as number));
  }
  return diff / scale;
}

/** Compares `fn` between the cpu reference and wasm; returns the worst relative error and the shapes. */
export async function compareBackends(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ err: number; shapesMatch: boolean }> {
  const ref = await runOn('cpu', fn);
  const got = await runOn('wasm', fn);
  let err = 0;
  let shapesMatch = ref.length === got.length;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const g = got[i];
    if (!r || !g) continue;
    shapesMatch &&= r.shape.join(',') === g.shape.join(',');
    err = Math.max(err, relErr(r.values, g.values));
  }
  return { err, shapesMatch };
}

/** Tensors alive and wasm buffers held, to check a kernel gives back everything it allocates. */
export function wasmFootprint(): { tensors: number; buffers: number; bytes: number } {
  const m = tf.memory();
  return { tensors: m.numTensors, buffers: (tf.backend() as unknown as { numDataIds(): number }).numDataIds(), bytes: m.numBytes };
}
