import type { tf } from '../tf.js';
import type { ConvGeometry } from './conv-gemm.js';
import type { SimdGemm } from '../simd/gemm.js';
import { simdGemm } from './batch-mat-mul.js';
import { asWasmBackend } from './util.js';

/**
 * Convolutions as an implicit GEMM (SimdGemm.igemm): the FMA tile reads each output pixel's patch straight from x
 * through a table of pointers (one per tap and tile row; padding taps point at a zero row), so no patch matrix is
 * written. For the large maps with 64 output channels that the patch GEMM leaves to XNNPACK (ResNet layer1), where
 * writing and re-reading the patches cost more than they saved, while XNNPACK multiplies and adds separately.
 */
export type ConvIgemmMode = 'auto' | 'off' | 'always';
let mode: ConvIgemmMode = 'auto';

/**
 * `auto` (default): the layers described above; `off`: never; `always`: every convolution the patch GEMM leaves,
 * whatever its channels (tests). Returns the previous mode.
 */
export function setConvIgemm(next: ConvIgemmMode): ConvIgemmMode {
  const prev = mode;
  mode = next;
  return prev;
}

/** Input channels below which the per-tap pointer reloads cost more than the k loop they feed (the RGB stem). */
const MIN_CHANNELS = 16;
/** Kernel memory per call (x, table, filter panels, output): beyond it, XNNPACK. */
const MAX_BYTES = 512 * 2 ** 20;

/** Sizes of one implicit-GEMM call and the kernel memory they need (byte sizes of x, zero row, table, panels, C). */
function layoutOf(g: ConvGeometry, k: SimdGemm) {
  const rows = g.n * g.oh * g.ow;
  const taps = g.kh * g.kw;
  const depth = taps * g.ci;
  const blocks = Math.ceil(rows / k.mr);
  const ldc = Math.ceil(g.co / k.nr) * k.nr;
  const bytes = {
    x: g.n * g.h * g.w * g.ci * 4,
    zero: g.ci * 4,
    table: blocks * taps * k.mr * 4,
    panels: k.panelsBytes(g.co, depth),
    c: blocks * k.mr * ldc * 4,
  };
  return { rows, taps, depth, blocks, ldc, bytes, total: bytes.x + bytes.zero + bytes.table + bytes.panels + bytes.c };
}

/** Whether this convolution (dilation 1, not taken by the patch GEMM) should run as an implicit GEMM. */
export function preferConvIgemm(g: ConvGeometry): boolean {
  if (mode === 'off' || (mode === 'auto' && g.ci < MIN_CHANNELS)) return false;
  const k = simdGemm();
  return k !== null && k.unroll === 1 && layoutOf(g, k).total <= MAX_BYTES;
}

/** y = conv(x, W) for NHWC x and HWIO W, on the thread's FMA GEMM. Call after `preferConvIgemm(g)`. */
export function convIgemm(xInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, backend: unknown): tf.TensorInfo {
  const k = simdGemm()!;
  const wasm = asWasmBackend(backend, 'Conv2D');
  const out = wasm.makeOutput([g.n, g.oh, g.ow, g.co], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const xv = wasm.typedArrayFromHeap(xInfo) as Float32Array;
  const fv = wasm.typedArrayFromHeap(fInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const { rows, taps, depth, blocks, ldc, bytes } = layoutOf(g, k);
  const { mr, nr } = k;
  const mark = k.mark();
  try {
    const xPtr = k.alloc(bytes.x);
    const zeroPtr = k.alloc(bytes.zero);
    const indPtr = k.alloc(bytes.table);
    const bPtr = k.alloc(bytes.panels);
    const cPtr = k.alloc(bytes.c);
    k.f32.set(xv, xPtr >>> 2);
    k.f32.fill(0, zeroPtr >>> 2, (zeroPtr >>> 2) + g.ci);
    // The HWIO filter is already [kh·kw·ci, co]: B items are its columns (stride 1), k runs down its rows.
    k.packStrided(fv, 0, g.co, depth, 1, g.co, bPtr, nr);
    const ind = new Int32Array(k.memory.buffer, indPtr, blocks * taps * mr);
    const pixelBytes = g.ci * 4;
    for (let i = 0; i < blocks * mr; i++) {
      const blk = Math.floor(i / mr);
      const r = i - blk * mr;
      const base = blk * taps * mr + r;
      if (i >= rows) {
        for (let t = 0; t < taps; t++) ind[base + t * mr] = zeroPtr;
        continue;
      }
      const b = Math.floor(i / (g.oh * g.ow));
      const rest = i - b * g.oh * g.ow;
      const oy = Math.floor(rest / g.ow);
      const ox = rest - oy * g.ow;
      for (let ky = 0; ky < g.kh; ky++) {
        const iy = oy * g.sh - g.top + ky;
        for (let kx = 0; kx < g.kw; kx++) {
          const ix = ox * g.sw - g.left + kx;
          const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
          ind[base + (ky * g.kw + kx) * mr] = inside ? xPtr + ((b * g.h + iy) * g.w + ix) * pixelBytes : zeroPtr;
        }
      }
    }
    k.igemm(indPtr, blocks, bPtr, ldc / nr, taps, g.ci, cPtr, ldc);
    const mem = k.f32;
    const c0 = cPtr >>> 2;
    if (ldc === g.co) ov.set(mem.subarray(c0, c0 + rows * g.co));
    else for (let i = 0; i < rows; i++) ov.set(mem.subarray(c0 + i * ldc, c0 + i * ldc + g.co), i * g.co);
  } finally {
    k.release(mark);
  }
  return out;
}
