import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { SimdGemm } from '../simd/gemm.js';
import { winogradFunctions } from '../simd/winograd.js';
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

/**
 * Products (batch·m·k·n) from which our FMA GEMM (simd/gemm.ts, ~39 GF/s here against XNNPACK's 19–27 on the same
 * shapes) runs instead of XNNPACK. Below it, packing the operands in JavaScript costs about what it saves.
 */
export const SIMD_MIN_WORK = 1 << 15;
/** Rows of A per GEMM call (they stay in L2 while B panels stream past); conv-winograd.ts's products use it too. */
export const GEMM_ROW_CHUNK = 192;
/** Products longer than this along k run in k blocks of GEMM_K_BLOCK (see simdProduct). */
const K_BLOCK_MIN = 1024;
/** Depth of one k block, whose packed A and B stay in cache (also the Winograd filter gradient's). */
export const GEMM_K_BLOCK = 512;

let simdKernel: SimdGemm | null | undefined;

/**
 * The thread's GEMM, or null where relaxed SIMD (FMA) is missing (then XNNPACK is faster) or the user set
 * HIER_SIMD_GEMM=0 (an escape hatch to run every product on XNNPACK).
 */
export function simdGemm(): SimdGemm | null {
  if (simdKernel === undefined) {
    if (process.env.HIER_SIMD_GEMM === '0') return (simdKernel = null);
    try {
      // The Winograd tile transforms share the GEMM's memory (conv-winograd.ts).
      const g = SimdGemm.create({ extra: ({ nr }) => winogradFunctions(nr) });
      simdKernel = g.fma ? g : null;
    } catch {
      simdKernel = null;
    }
  }
  return simdKernel;
}

/** Turns the FMA GEMM off (true) or back to automatic (false), for tests and benchmarks comparing the paths. */
export function disableSimdMatMul(off: boolean): void {
  simdOff = off;
}
let simdOff = false;

/**
 * op(A)·op(B) on the FMA GEMM, reading the operands straight from the wasm heap: transposes are folded into
 * the packing, a batch of A against one B is one tall product, and B (or A) is packed once when shared.
 * Returns null for what it does not handle (partially broadcast batch shapes, small products).
 */
function simdProduct(aInfo: tf.TensorInfo, bInfo: tf.TensorInfo, tA: boolean, tB: boolean, backend: unknown, g: SimdGemm): tf.TensorInfo | null {
  const ra = aInfo.shape.length;
  const rb = bInfo.shape.length;
  const m = aInfo.shape[tA ? ra - 1 : ra - 2] as number;
  const k = aInfo.shape[tA ? ra - 2 : ra - 1] as number;
  const n = bInfo.shape[tB ? rb - 2 : rb - 1] as number;
  const batchShapeA = aInfo.shape.slice(0, -2);
  const batchShapeB = bInfo.shape.slice(0, -2);
  const batchA = size(batchShapeA);
  const batchB = size(batchShapeB);
  if (batchA > 1 && batchB > 1 && (batchShapeA.length !== batchShapeB.length || batchShapeA.some((d, i) => d !== batchShapeB[i]))) return null;
  const batch = Math.max(batchA, batchB);
  if (batch * m * k * n < SIMD_MIN_WORK || m === 0 || n === 0 || k === 0) return null;
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB), m, n];
  const wasm = asWasmBackend(backend, 'BatchMatMul');
  const out = wasm.makeOutput(outShape, 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const av = wasm.typedArrayFromHeap(aInfo) as Float32Array;
  const bv = wasm.typedArrayFromHeap(bInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const fold = batchB === 1 && batchA > 1 && !tA;
  const rows = fold ? batchA * m : m;
  const products = fold ? 1 : batch;
  const mark = g.mark();
  try {
    const blocks = Math.ceil(rows / g.mr);
    // Row-major A is multiplied in place (`gemmRows`: a memcpy into the kernel's memory instead of packing);
    // a transposed A is packed into row blocks, along its rows (`packTransposed`).
    const inPlace = !tA && g.unroll === 1;
    // Long products (k > K_BLOCK_MIN, e.g. weight gradients Xᵀ·dY over every pixel of a batch) run in k blocks, each
    // one's packed A and B staying in cache while the tile loop sweeps them, C accumulating across blocks.
    const kc = k > K_BLOCK_MIN ? GEMM_K_BLOCK : k;
    const aPtr = g.alloc(inPlace ? blocks * g.mr * k * 4 : g.rowBlocksBytes(rows, kc));
    const bPtr = g.alloc(g.panelsBytes(n, kc));
    const ldc = Math.ceil(n / g.nr) * g.nr;
    const cPtr = g.alloc(blocks * g.mr * ldc * 4);
    const chunk = Math.ceil(GEMM_ROW_CHUNK / g.mr);
    if (inPlace) g.f32.fill(0, (aPtr >> 2) + rows * k, (aPtr >> 2) + blocks * g.mr * k); // the tail block's padding rows
    for (let p = 0; p < products; p++) {
      // A item = a row of op(A), B item = a column of op(B); both run along k.
      const aOffset = (batchA > 1 ? p : 0) * m * k;
      const bOffset = (batchB > 1 ? p : 0) * k * n;
      if (inPlace && (p === 0 || batchA > 1)) g.f32.set(av.subarray(aOffset, aOffset + rows * k), aPtr >> 2);
      for (let k0 = 0; k0 < k; k0 += kc) {
        const kk = Math.min(kc, k - k0);
        const aBlockBytes = inPlace ? g.mr * k * 4 : g.mr * g.paddedK(kk) * 4;
        // With one k block, a shared operand is packed once for every product.
        const repack = kc < k || p === 0;
        if (!inPlace && (repack || batchA > 1)) {
          if (tA) g.packTransposed(av, aOffset + k0 * m, rows, kk, m, aPtr);
          else g.packStrided(av, aOffset + k0, rows, kk, k, 1, aPtr, g.mr);
        }
        if (repack || batchB > 1) g.packStrided(bv, bOffset + k0 * (tB ? 1 : n), n, kk, tB ? k : 1, tB ? 1 : n, bPtr, g.nr);
        for (let b0 = 0; b0 < blocks; b0 += chunk) {
          const nb = Math.min(chunk, blocks - b0);
          const c = cPtr + b0 * g.mr * ldc * 4;
          if (inPlace) g.gemmRows(aPtr + b0 * aBlockBytes + k0 * 4, k, nb, bPtr, ldc / g.nr, kk, c, ldc, k0 > 0);
          else g.gemm(aPtr + b0 * aBlockBytes, nb, bPtr, ldc / g.nr, kk, c, ldc, k0 > 0);
        }
      }
      const mem = g.f32;
      const c0 = cPtr >> 2;
      const o0 = p * rows * n;
      if (ldc === n) ov.set(mem.subarray(c0, c0 + rows * n), o0);
      else for (let i = 0; i < rows; i++) ov.set(mem.subarray(c0 + i * ldc, c0 + i * ldc + n), o0 + i * n);
    }
  } finally {
    g.release(mark);
  }
  return out;
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
 * BatchMatMul: big enough float32 products run on our FMA GEMM (`simdProduct`). The rest (and everything where
 * relaxed SIMD is missing) run on XNNPACK, with transposeA/transposeB as an explicit transpose plus the plain kernel: stock wasm's
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
  const g = simdOff ? null : simdGemm();
  if (g) {
    const r = simdProduct(aInfo, bInfo, tA, tB, args.backend, g);
    if (r) return r;
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
