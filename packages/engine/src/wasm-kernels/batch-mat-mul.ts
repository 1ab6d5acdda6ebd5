import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { stockWasmKernel } from './stock.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, adoptOutput, asWasmBackend, wrapInput } from './util.js';

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function swapLast2(t: tf.Tensor): tf.Tensor {
  const r = t.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

/**
 * Per-product work (m·k·n) from which a batched product runs as one stock 2-D product per batch entry. Stock
 * wasm uses XNNPACK only for a single product and a scalar loop (~0.5–1 GF/s) for batches. A 65×64×65 head
 * product takes ~0.05 ms on XNNPACK, so slicing wins from small sizes on, provided the slices are plain heap
 * copies: tf.unstack/stack cost more than the products themselves.
 */
export const SLICE_BATCH_MIN_WORK = 1 << 14;

/**
 * A[i]·B[i] for every batch entry i as separate XNNPACK products, slices copied in and results copied out over the
 * wasm heap. Every B slice gets a fresh buffer on purpose: the stock kernel caches XNNPACK operators (packed
 * weights) by B's buffer id, so reusing one buffer with new contents would multiply by stale weights.
 */
function slicedProduct(a: tf.Tensor, b: tf.Tensor, batch: number, m: number, k: number, n: number, stock: tf.KernelConfig, backend: unknown): tf.Tensor {
  const wasm = asWasmBackend(backend, 'BatchMatMul');
  const out = wasm.makeOutput([...a.shape.slice(0, -2), m, n], 'float32');
  for (let i = 0; i < batch; i++) {
    const ai = wasm.makeOutput([m, k], 'float32');
    const bi = wasm.makeOutput([k, n], 'float32');
    // Views are re-taken after every allocation: heap growth detaches earlier ones.
    (wasm.typedArrayFromHeap(ai) as Float32Array).set((wasm.typedArrayFromHeap(a) as Float32Array).subarray(i * m * k, (i + 1) * m * k));
    (wasm.typedArrayFromHeap(bi) as Float32Array).set((wasm.typedArrayFromHeap(b) as Float32Array).subarray(i * k * n, (i + 1) * k * n));
    const r = stock.kernelFunc({ inputs: { a: ai, b: bi }, backend: backend as object, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
    (wasm.typedArrayFromHeap(out) as Float32Array).set(wasm.typedArrayFromHeap(r) as Float32Array, i * m * n);
    wasm.disposeData(ai.dataId);
    wasm.disposeData(bi.dataId);
    wasm.disposeData(r.dataId);
  }
  return adoptOutput(out, backend);
}

/** op(A)·op(B) for already-transposed operands, slicing the batch when that is faster (see above). */
function plainProduct(a: tf.Tensor, b: tf.Tensor, stock: tf.KernelConfig, backend: unknown): tf.Tensor {
  const m = a.shape[a.rank - 2] as number;
  const k = a.shape[a.rank - 1] as number;
  const n = b.shape[b.rank - 1] as number;
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  const call = (x: tf.Tensor, y: tf.Tensor) =>
    adoptOutput(stock.kernelFunc({ inputs: { a: x, b: y }, backend: backend as object, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo, backend);
  if (batchA > 1 && batchB === 1) {
    // A batch against one shared B (x·W on [B, T, D]) is a single tall product; stock loops over the batch.
    const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];
    return tf.reshape(call(tf.reshape(a, [batchA * m, k]), tf.reshape(b, [k, n])), outShape);
  }
  const sameBatch = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (sameBatch && batchA > 1 && m * k * n >= SLICE_BATCH_MIN_WORK) return slicedProduct(a, b, batchA, m, k, n, stock, backend);
  return call(a, b);
}

/**
 * BatchMatMul whose transposeA/transposeB run as an explicit transpose plus the plain kernel: stock wasm's
 * transposed path is ~10× slower (2–3 vs 13–24 GF/s), and tfjs's own matMul gradient always asks for it.
 * When it moves less data, (op(A)·op(B)) is computed as (op(B)ᵀ·op(A)ᵀ)ᵀ instead, transposing the smaller
 * operand and the output (e.g. Xᵀ·dY for a tall X: transpose dY and the small result, not X).
 */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const stock = stockWasmKernel('BatchMatMul');
  if (!stock) throw new HierError('E_KERNEL', 'BatchMatMul: the stock wasm kernel was not found; is @tensorflow/tfjs-backend-wasm loaded?');
  const { a: aInfo, b: bInfo } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const tA = Boolean(attrs.transposeA);
  const tB = Boolean(attrs.transposeB);
  if (aInfo.dtype !== 'float32' || bInfo.dtype !== 'float32' || aInfo.shape.length < 2 || bInfo.shape.length < 2) {
    return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const ra = aInfo.shape.length;
  const rb = bInfo.shape.length;
  const m = aInfo.shape[tA ? ra - 1 : ra - 2] as number;
  const nOut = bInfo.shape[tB ? rb - 2 : rb - 1] as number;
  const batch = Math.max(size(aInfo.shape.slice(0, -2)), size(bInfo.shape.slice(0, -2)));
  const k = aInfo.shape[tA ? ra - 2 : ra - 1] as number;
  const batchB = size(bInfo.shape.slice(0, -2));
  const foldable = batch > 1 && batchB === 1;
  if (!tA && !tB && !foldable && (batch <= 1 || m * k * nOut < SLICE_BATCH_MIN_WORK)) {
    return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const sizeA = size(aInfo.shape);
  const sizeB = size(bInfo.shape);
  const direct = (tA ? sizeA : 0) + (tB ? sizeB : 0);
  // Without transposes `direct` is 0 and always wins.
  const swapped = (tA ? 0 : sizeA) + (tB ? 0 : sizeB) + batch * m * nOut;
  return tf.tidy(() => {
    const a = wrapInput(aInfo, args.backend);
    const b = wrapInput(bInfo, args.backend);
    if (direct <= swapped) return plainProduct(tA ? swapLast2(a) : a, tB ? swapLast2(b) : b, stock, args.backend);
    return swapLast2(plainProduct(tB ? b : swapLast2(b), tA ? a : swapLast2(a), stock, args.backend));
  });
}

export const batchMatMulKernel: WasmKernel = {
  kernelName: 'BatchMatMul',
  missingInStock: false,
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
