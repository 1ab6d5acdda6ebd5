import { HierError } from '@hier-ts/core';
import { buildModule, type FunctionDef, instantiate, type WasmMemory } from '../simd/wasm-builder.js';
import { tf } from '../tf.js';

/** What a kernelFunc receives (tfjs types it loosely; this narrows what we use). */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

/** The part of tfjs-backend-wasm's BackendWasm that the kernels here use (public methods of that class). */
export interface WasmBackendLike {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

export function asWasmBackend(backend: unknown, kernel: string): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (!b || typeof b.incRef !== 'function' || typeof b.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function' || typeof b.disposeData !== 'function') {
    throw new HierError('E_KERNEL', `${kernel}: hier-ts registered this kernel for the wasm backend only, but got another backend`);
  }
  return b as WasmBackendLike;
}

/**
 * Views a kernel input as a Tensor so ordinary tf ops can run on it. The backend's reference count is raised
 * first: without it, disposing the wrapper would free the caller's buffer (use-after-free, seen as a "leak").
 * Call inside tf.tidy so the wrapper is released when the kernel returns.
 */
export function wrapInput(info: tf.TensorInfo, backend: unknown): tf.Tensor {
  const b = backend as WasmBackendLike;
  b.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend as tf.KernelBackend);
}

/** Adopts a TensorInfo that a stock kernelFunc just produced (we own its only reference). */
export function adoptOutput(info: tf.TensorInfo, backend: unknown): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(info, backend as tf.KernelBackend);
}

export function requireNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new HierError('E_KERNEL', `${kernel}: dataFormat '${String(dataFormat)}' is not supported on wasm; use NHWC`);
  }
}

/** Geometry of the forward convolution whose gradient is being computed. */
export function forwardConvInfo(
  xShape: number[],
  filterShape: number[],
  strides: unknown,
  pad: unknown,
  dimRoundingMode: unknown,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides as [number, number] | number,
    1,
    pad as 'valid' | 'same' | number,
    dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
}

/**
 * Spreads a strided output back onto the input grid: [N, OH, OW, C] -> [N, OH*sh, OW*sw, C] with each value at
 * (i*sh, j*sw) and zeros between (the "zero insertion" of a transposed convolution). A 6-D pad on singleton axes
 * followed by a free reshape does it in one data pass.
 */
export function zeroInsert(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const six = tf.reshape(t, [n, h, 1, w, 1, c]);
  const padded = tf.pad(six, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]);
}

/** Crops or zero-pads the spatial axes at the bottom/right to exactly [h, w]. */
export function fitSpatial(t: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, th, tw, c] = t.shape;
  let r = t;
  if (th > h || tw > w) r = tf.slice(r, [0, 0, 0, 0], [n, Math.min(th, h), Math.min(tw, w), c]);
  if (th < h || tw < w) r = tf.pad(r, [[0, 0], [0, Math.max(0, h - th)], [0, Math.max(0, w - tw)], [0, 0]]);
  return r;
}

/** Compiled heap modules: per function list (its builder), one instance per tfjs-backend-wasm memory (one per thread). */
const heapModules = new WeakMap<() => FunctionDef[], WeakMap<WasmMemory, unknown>>();

/**
 * The exports of a wasm module that imports tfjs-backend-wasm's own memory (so its loops read and write tensors
 * where they live), built from `functions` once per backend memory; null where the backend is not tfjs-backend-wasm.
 */
export function heapModule<T>(backend: unknown, functions: () => FunctionDef[]): T | null {
  const memory = (backend as { wasm?: { asm?: { memory?: WasmMemory } } }).wasm?.asm?.memory;
  if (!memory) return null;
  let perMemory = heapModules.get(functions);
  if (!perMemory) heapModules.set(functions, (perMemory = new WeakMap()));
  let k = perMemory.get(memory) as T | undefined;
  if (!k) {
    k = instantiate(buildModule(functions(), 1), memory) as T;
    perMemory.set(memory, k);
  }
  return k;
}
