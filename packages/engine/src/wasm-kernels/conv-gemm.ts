import type { tf } from '../tf.js';
import { asWasmBackend } from './util.js';

/**
 * Convolutions as one GEMM over explicit patches (im2col), for the layers where XNNPACK's per-call weight
 * packing costs more than the arithmetic: small spatial maps with large filters (ResNet layer3/layer4 at
 * 64 px: 4×4 and 2×2 maps, 3×3×512×512 filters).
 *
 * Why: XNNPACK caches its packed filter by buffer id, but in training every filter is new on every call (the
 * optimizer replaces the weights; the backward filters are built per call), so each call re-packs. For a
 * 3×3×512×512 filter that is ~22 ms per call against ~0.7 ms of arithmetic per image: ResNet-18@64 spent ~0.4 s
 * of batch-independent time per step there. The patch matrix is n·oh·ow × kh·kw·ci (tiny when the map is small),
 * the filter is already the [kh·kw·ci, co] GEMM operand in HWIO, and the products run on hier-ts's BatchMatMul
 * (the FMA GEMM, which packs the same filter in ~1–2 ms):
 *   forward  y  = cols(x) · W                    [M, co]
 *   dX       dx = col2im(dy · Wᵀ)                scatter-add of [M, K]
 *   dW       dW = cols(x)ᵀ · dy                   [K, co] = HWIO
 * with M = n·oh·ow, K = kh·kw·ci. All three are exact reformulations (only the summation order changes).
 */
export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  kh: number;
  kw: number;
  co: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

export function geometryOf(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    co: info.outChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/**
 * Largest output map (oh·ow per image) that goes to the patch GEMM whatever the channels. Measured on ResNet-18@64
 * (CPU s per training step at batch 4/16/32/64, see README): 2×2 and 4×4 maps win at every batch size, 8×8 breaks
 * even or wins slightly, and sending the 16×16 maps too costs ~8% at batch 64 (XNNPACK's implicit patches beat the
 * explicit copy there). 0 turns the path off (tests and benchmarks).
 */
let maxGemmMap = 64;
/**
 * Output channels from which larger maps go to the patch GEMM too. The patch matrix costs K = kh·kw·ci floats of
 * copying per output position against K·co multiply-adds in each of the three products (forward, dX, dW), so its
 * share falls as 1/co. Measured per 3×3 stride-1 convolution at batch 8 (GFLOP/s, XNNPACK with its packed filter
 * cached / patch GEMM): co 256 at 14×14: 28 / 37 forward, 24 / 33 dX, 18 / 29 dW; co 128 at 28×28: 28 / 34,
 * 26 / 27, 16 / 20; co 64 at 56×56: 27 / 25, 27 / 19, 15 / 13 (and at 16×16, batch 64, the same), so 64 stays.
 */
let minGemmChannels = 128;
/** Largest patch matrix (floats) built at once: 128 MB; bigger convolutions stay on XNNPACK. */
const MAX_COLS = 1 << 25;

/** Sets the largest oh·ow that runs as a patch GEMM (0 = never); returns the previous value. For tests and benchmarks. */
export function setConvGemmMaxMap(v: number): number {
  const prev = maxGemmMap;
  maxGemmMap = v;
  return prev;
}

/**
 * Sets the output channels from which maps of any size run as a patch GEMM (Infinity = only small maps); returns the
 * previous value. For tests and benchmarks. The patch GEMM is off altogether while the largest map is 0.
 */
export function setConvGemmMinChannels(v: number): number {
  const prev = minGemmChannels;
  minGemmChannels = v;
  return prev;
}

/** Whether this convolution (dilation 1) should run as a patch GEMM. */
export function preferConvGemm(g: ConvGeometry): boolean {
  if (maxGemmMap <= 0 || !(g.oh > 0 && g.ow > 0 && g.n > 0 && g.ci > 0 && g.co > 0)) return false;
  const cols = g.n * g.oh * g.ow * g.kh * g.kw * g.ci;
  return cols <= MAX_COLS && (g.oh * g.ow <= maxGemmMap || g.co >= minGemmChannels);
}

/** A Float32Array over the whole wasm heap and the float offset of `view` in it (so copyWithin can move runs). */
function heapOf(view: Float32Array): { heap: Float32Array; at: number } {
  return { heap: new Float32Array(view.buffer), at: view.byteOffset >>> 2 };
}

/**
 * The patch matrix [n·oh·ow, kh·kw·ci] of x [n, h, w, ci]: row (img, r, q), column (a, b, c) holds
 * x[img, r·sh + a − top, q·sw + b − left, c], zero in the padding. For each row and tap row a, the in-range taps
 * b are one contiguous run of x, moved with one copyWithin inside the heap.
 */
export function im2col(xInfo: tf.TensorInfo, g: ConvGeometry, backendArg: unknown): tf.TensorInfo {
  const wasm = asWasmBackend(backendArg, 'Conv2D');
  const { n, h, w, ci, kh, kw, oh, ow, sh, sw, top, left } = g;
  const kRow = kw * ci;
  const kAll = kh * kRow;
  const out = wasm.makeOutput([n * oh * ow, kAll], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const dv = wasm.typedArrayFromHeap(out) as Float32Array;
  const sv = wasm.typedArrayFromHeap(xInfo) as Float32Array;
  const { heap, at: d0 } = heapOf(dv);
  const s0 = sv.byteOffset >>> 2;
  let row = d0;
  for (let img = 0; img < n; img++) {
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++) {
        const c0 = q * sw - left;
        const b0 = Math.max(0, -c0);
        const b1 = Math.min(kw, w - c0);
        for (let a = 0; a < kh; a++) {
          const to = row + a * kRow;
          const sr = r * sh + a - top;
          if (sr < 0 || sr >= h || b1 <= b0) {
            heap.fill(0, to, to + kRow);
            continue;
          }
          if (b0 > 0) heap.fill(0, to, to + b0 * ci);
          const from = s0 + ((img * h + sr) * w + c0 + b0) * ci;
          heap.copyWithin(to + b0 * ci, from, from + (b1 - b0) * ci);
          if (b1 < kw) heap.fill(0, to + b1 * ci, to + kRow);
        }
        row += kAll;
      }
    }
  }
  return out;
}

/** dx [n, h, w, ci] from patch gradients [n·oh·ow, kh·kw·ci]: each patch entry added back where im2col read it. */
export function col2im(colsInfo: tf.TensorInfo, g: ConvGeometry, backendArg: unknown): tf.TensorInfo {
  const wasm = asWasmBackend(backendArg, 'Conv2DBackpropInput');
  const { n, h, w, ci, kh, kw, oh, ow, sh, sw, top, left } = g;
  const kRow = kw * ci;
  const kAll = kh * kRow;
  const out = wasm.makeOutput([n, h, w, ci], 'float32');
  const dv = wasm.typedArrayFromHeap(out) as Float32Array;
  const sv = wasm.typedArrayFromHeap(colsInfo) as Float32Array;
  const { heap, at: d0 } = heapOf(dv);
  const s0 = sv.byteOffset >>> 2;
  heap.fill(0, d0, d0 + n * h * w * ci);
  let row = s0;
  for (let img = 0; img < n; img++) {
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++) {
        const c0 = q * sw - left;
        const b0 = Math.max(0, -c0);
        const b1 = Math.min(kw, w - c0);
        if (b1 > b0) {
          for (let a = 0; a < kh; a++) {
            const sr = r * sh + a - top;
            if (sr < 0 || sr >= h) continue;
            const from = row + a * kRow + b0 * ci;
            const to = d0 + ((img * h + sr) * w + c0 + b0) * ci;
            const len = (b1 - b0) * ci;
            for (let e = 0; e < len; e++) heap[to + e] = (heap[to + e] as number) + (heap[from + e] as number);
          }
        }
        row += kAll;
      }
    }
  }
  return out;
}
