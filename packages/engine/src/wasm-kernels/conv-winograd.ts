import type { tf } from '../tf.js';
import type { SimdGemm } from '../simd/gemm.js';
import type { WinogradExports } from '../simd/winograd.js';
import type { ConvGeometry } from './conv-gemm.js';
import { simdGemm } from './batch-mat-mul.js';
import { asWasmBackend, type WasmBackendLike } from './util.js';

/**
 * 3×3 stride-1 "same" convolutions by Winograd's F(2×2, 3×3) (simd/winograd.ts has the math): 16 multiplies per
 * 2×2 output tile and channel pair instead of 36, as 16 products on the FMA GEMM between SIMD tile transforms,
 * all in the GEMM's own memory. ResNet's 3×3 layers (the bottleneck middles, every ResNet-18 layer after the stem)
 * are most of its arithmetic; the forward, the input gradient (a forward convolution with the flipped filter) and the
 * filter gradient (the adjoint) all take this path.
 *
 * Numerics: the transforms add and halve (exact in float32 up to rounding), so results differ from a direct
 * convolution in the last bits, as any change of summation order does; the golden parity cases pass.
 * `setConvWinograd('off')` restores the direct kernels.
 */
export type ConvWinogradMode = 'auto' | 'off' | 'always';
/** `HIER_WINOGRAD=0` starts with the direct kernels (every thread, replicas included), as `HIER_SIMD_GEMM=0` does for products. */
let mode: ConvWinogradMode = process.env.HIER_WINOGRAD === '0' ? 'off' : 'auto';

/** `auto` (default): 3×3/1 same convolutions with ≥ MIN_CHANNELS channels each way; `off`: never; `always`: any channel count (multiple of 4). Returns the previous mode. */
export function setConvWinograd(next: ConvWinogradMode): ConvWinogradMode {
  const prev = mode;
  mode = next;
  return prev;
}

/** Below this the transforms (∝ channels) cost more than the products they shrink (∝ channels²). */
const MIN_CHANNELS = 32;
/**
 * Below this many output tiles (n·⌈oh/2⌉·⌈ow/2⌉) the filter side (transforming and packing 16·ci·co floats, which
 * does not shrink with the batch) outweighs the products saved. At 32 tiles (ResNet-18@64's 2×2 layer4 maps at batch
 * 32) forward + both gradients still took 18 % less time than the patch GEMM.
 */
const MIN_TILES = 32;
/** Kernel memory per call; beyond it, the direct kernels. */
const MAX_BYTES = 768 * 2 ** 20;

/** Tiles and the byte sizes of every region one call needs. */
function layoutOf(g: ConvGeometry, k: SimdGemm) {
  const th = Math.ceil(g.oh / 2);
  const tw = Math.ceil(g.ow / 2);
  const tiles = g.n * th * tw;
  const blocks = Math.ceil(tiles / k.mr);
  const tilesPadded = blocks * k.mr;
  const ldc = Math.ceil(g.co / k.nr) * k.nr;
  const hp = 2 * th + 2;
  const wp = 2 * tw + 2;
  const xp = g.n * hp * wp * g.ci * 4;
  const v = 16 * tilesPadded * g.ci * 4;
  const forward = xp + v + 9 * g.ci * g.co * 4 + 16 * k.panelsBytes(g.co, g.ci) + 16 * tilesPadded * ldc * 4 + g.n * 4 * th * tw * g.co * 4;
  const ciBlocks = Math.ceil(g.ci / k.mr);
  const filterGrad = xp + v + g.n * 4 * th * tw * g.co * 4 + 16 * tilesPadded * g.co * 4 + k.rowBlocksBytes(g.ci, tilesPadded) + k.panelsBytes(g.co, tilesPadded) + 16 * ciBlocks * k.mr * ldc * 4 + 9 * g.ci * g.co * 4;
  return { th, tw, tiles, blocks, tilesPadded, ldc, hp, wp, ciBlocks, bytes: { xp, v }, total: Math.max(forward, filterGrad) };
}

/**
 * Whether a convolution of this geometry (dilation 1) runs as F(2×2, 3×3); `inputGrad`: for its input gradient
 * (the same convolution with channels swapped).
 */
export function preferConvWinograd(g: ConvGeometry, inputGrad = false): boolean {
  if (mode === 'off') return false;
  if (g.kh !== 3 || g.kw !== 3 || g.sh !== 1 || g.sw !== 1 || g.top !== 1 || g.left !== 1 || g.oh !== g.h || g.ow !== g.w) return false;
  if (g.ci % 4 !== 0 || g.co % 4 !== 0) return false;
  const k = simdGemm();
  if (k === null || k.unroll !== 1) return false;
  const l = layoutOf(inputGrad ? { ...g, ci: g.co, co: g.ci } : g, k);
  if (mode === 'auto' && (g.ci < MIN_CHANNELS || g.co < MIN_CHANNELS || l.tiles < MIN_TILES)) return false;
  return l.total <= MAX_BYTES;
}

function transforms(k: SimdGemm): WinogradExports {
  return {
    winoInput: k.exported('winoInput'),
    winoFilterPacked: k.exported('winoFilterPacked'),
    winoFilterPackedFlipped: k.exported('winoFilterPackedFlipped'),
    winoOutput: k.exported('winoOutput'),
    winoOutputGrad: k.exported('winoOutputGrad'),
    winoFilterGrad: k.exported('winoFilterGrad'),
  };
}

/** Copies x [n, h, w, ci] into the zero-padded tile grid [n, hp, wp, ci] at `xp` (one pixel of padding top/left) and fills V. */
function transformInput(k: SimdGemm, t: WinogradExports, xv: Float32Array, g: ConvGeometry, l: ReturnType<typeof layoutOf>, xp: number, v: number): void {
  const mem = k.f32;
  mem.fill(0, xp >>> 2, (xp + l.bytes.xp) >>> 2);
  const row = g.w * g.ci;
  for (let img = 0; img < g.n; img++)
    for (let r = 0; r < g.h; r++) {
      const from = (img * g.h + r) * row;
      mem.set(xv.subarray(from, from + row), (xp >>> 2) + ((img * l.hp + r + 1) * l.wp + 1) * g.ci);
    }
  const plane = l.tilesPadded * g.ci;
  // The padding rows of every plane's last row block are read by the GEMM: zeros.
  if (l.tilesPadded > l.tiles) for (let xi = 0; xi < 16; xi++) mem.fill(0, (v >>> 2) + xi * plane + l.tiles * g.ci, (v >>> 2) + (xi + 1) * plane);
  t.winoInput(xp, l.hp * l.wp * g.ci * 4, l.wp * g.ci * 4, g.ci * 4, v, plane * 4, g.n, l.th, l.tw, g.ci / 4);
}

/** y = conv3×3(x, W) (stride 1, same padding) for NHWC x and HWIO W. Call after `preferConvWinograd(g)`. */
export function convWinograd(xInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, backend: unknown): tf.TensorInfo {
  return winogradForward(xInfo, fInfo, g, false, asWasmBackend(backend, 'Conv2D'));
}

/**
 * dx of a 3×3 stride-1 same convolution (g is its forward geometry): the same convolution of dy with the filter
 * flipped in space and transposed in channels. The flip is free in the transformed domain (U of the flipped filter
 * is U with tile rows and columns 0 and 3 swapped) and the transpose is a packing stride, so W is used as it is.
 */
export function convWinogradInputGrad(dyInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, backend: unknown): tf.TensorInfo {
  const swapped: ConvGeometry = { ...g, h: g.oh, w: g.ow, ci: g.co, co: g.ci };
  return winogradForward(dyInfo, fInfo, swapped, true, asWasmBackend(backend, 'Conv2DBackpropInput'));
}

/**
 * conv(src, W) on tiles; `flipped`: W is [3, 3, co, ci] of a forward convolution whose input gradient this is
 * (g describes the run: src channels g.ci, output channels g.co).
 */
function winogradForward(srcInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, flipped: boolean, wasm: WasmBackendLike): tf.TensorInfo {
  const k = simdGemm()!;
  const t = transforms(k);
  const out = wasm.makeOutput([g.n, g.oh, g.ow, g.co], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const xv = wasm.typedArrayFromHeap(srcInfo) as Float32Array;
  const fv = wasm.typedArrayFromHeap(fInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const l = layoutOf(g, k);
  const { ci, co } = g;
  const mark = k.mark();
  try {
    const xp = k.alloc(l.bytes.xp);
    const v = k.alloc(l.bytes.v);
    const f = k.alloc(9 * ci * co * 4);
    // B[ξ] is [k = ci, n = co] packed in panels of nr columns (for the input gradient, of U of the flipped filter).
    const panelBytes = k.panelsBytes(co, ci);
    const up = k.alloc(16 * panelBytes);
    const mPlane = l.tilesPadded * l.ldc;
    const m = k.alloc(16 * mPlane * 4);
    const yh = 2 * l.th;
    const yw = 2 * l.tw;
    const y = k.alloc(g.n * yh * yw * co * 4);
    transformInput(k, t, xv, g, l, xp, v);
    const mem = k.f32;
    mem.set(fv, f >>> 2);
    if (co % k.nr !== 0) {
      // The transforms skip the last panel's pad columns; the GEMM reads them.
      const last = Math.floor(co / k.nr) * ci * k.nr;
      for (let xi = 0; xi < 16; xi++) mem.fill(0, (up + xi * panelBytes) / 4 + last, (up + (xi + 1) * panelBytes) / 4);
    }
    if (!flipped) t.winoFilterPacked(f, ci, co, up, panelBytes);
    else t.winoFilterPackedFlipped(f, co, ci, up, panelBytes); // the forward conv's filter is [3, 3, co, ci] here
    const chunk = Math.max(1, Math.ceil(GEMM_CHUNK_ROWS / k.mr));
    for (let xi = 0; xi < 16; xi++) {
      const a = v + xi * l.tilesPadded * ci * 4;
      const c = m + xi * mPlane * 4;
      for (let b0 = 0; b0 < l.blocks; b0 += chunk) {
        const nb = Math.min(chunk, l.blocks - b0);
        k.gemmRows(a + b0 * k.mr * ci * 4, ci, nb, up + xi * panelBytes, l.ldc / k.nr, ci, c + b0 * k.mr * l.ldc * 4, l.ldc);
      }
    }
    t.winoOutput(m, mPlane * 4, l.ldc * 4, y, yh * yw * co * 4, yw * co * 4, co * 4, g.n, l.th, l.tw, co / 4);
    if (yh === g.oh && yw === g.ow) ov.set(mem.subarray(y >>> 2, (y >>> 2) + g.n * g.oh * g.ow * co));
    else {
      // Odd maps: the last tile row/column computed outputs past the edge; keep the first oh × ow.
      const row = g.ow * co;
      for (let img = 0; img < g.n; img++)
        for (let r = 0; r < g.oh; r++) {
          const from = (y >>> 2) + (img * yh + r) * yw * co;
          ov.set(mem.subarray(from, from + row), (img * g.oh + r) * row);
        }
    }
  } finally {
    k.release(mark);
  }
  return out;
}

/** Rows of A per GEMM call (they stay in L2 while B panels stream past), as the batched product does. */
const GEMM_CHUNK_ROWS = 192;
/** Tiles per k block of the filter gradient's products. */
const WGRAD_K_BLOCK = 512;

/** dW [3, 3, ci, co] of a 3×3 stride-1 same convolution from x and dy. Call after `preferConvWinograd(g)`. */
export function convWinogradFilterGrad(xInfo: tf.TensorInfo, dyInfo: tf.TensorInfo, g: ConvGeometry, backend: unknown): tf.TensorInfo {
  const k = simdGemm()!;
  const t = transforms(k);
  const wasm = asWasmBackend(backend, 'Conv2DBackpropFilter');
  const out = wasm.makeOutput([3, 3, g.ci, g.co], 'float32');
  const xv = wasm.typedArrayFromHeap(xInfo) as Float32Array;
  const dyv = wasm.typedArrayFromHeap(dyInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const l = layoutOf(g, k);
  const { ci, co } = g;
  const mark = k.mark();
  try {
    const xp = k.alloc(l.bytes.xp);
    const v = k.alloc(l.bytes.v);
    const yh = 2 * l.th;
    const yw = 2 * l.tw;
    const dy = k.alloc(g.n * yh * yw * co * 4);
    const dmPlane = l.tilesPadded * co;
    const dm = k.alloc(16 * dmPlane * 4);
    // k (the tiles) runs in blocks whose packed A and B stay in cache, as simdProduct does for long products.
    const kc = Math.min(l.tilesPadded, WGRAD_K_BLOCK);
    const aPacked = k.alloc(k.rowBlocksBytes(ci, kc));
    const bPacked = k.alloc(k.panelsBytes(co, kc));
    const duPlane = l.ciBlocks * k.mr * l.ldc;
    const du = k.alloc(16 * duPlane * 4);
    const dw = k.alloc(9 * ci * co * 4);
    transformInput(k, t, xv, g, l, xp, v);
    const mem = k.f32;
    if (yh === g.oh && yw === g.ow) mem.set(dyv, dy >>> 2);
    else {
      // Outputs past the edge do not exist: their gradient is zero.
      mem.fill(0, dy >>> 2, (dy >>> 2) + g.n * yh * yw * co);
      const row = g.ow * co;
      for (let img = 0; img < g.n; img++)
        for (let r = 0; r < g.oh; r++) {
          const from = (img * g.oh + r) * row;
          mem.set(dyv.subarray(from, from + row), (dy >>> 2) + (img * yh + r) * yw * co);
        }
    }
    if (l.tilesPadded > l.tiles) for (let xi = 0; xi < 16; xi++) mem.fill(0, (dm >>> 2) + xi * dmPlane + l.tiles * co, (dm >>> 2) + (xi + 1) * dmPlane);
    t.winoOutputGrad(dy, yh * yw * co * 4, yw * co * 4, co * 4, dm, dmPlane * 4, g.n, l.th, l.tw, co / 4);
    // dU[ξ] = V[ξ]ᵀ · dM[ξ]: [ci, tiles] · [tiles, co], k running over the tiles.
    for (let xi = 0; xi < 16; xi++) {
      for (let k0 = 0; k0 < l.tilesPadded; k0 += kc) {
        const kk = Math.min(kc, l.tilesPadded - k0);
        k.packTransposedAt(v + (xi * l.tilesPadded + k0) * ci * 4, ci, kk, ci, aPacked);
        k.packAt(dm + (xi * dmPlane + k0 * co) * 4, co, kk, 4, co * 4, bPacked, k.nr);
        k.gemm(aPacked, l.ciBlocks, bPacked, l.ldc / k.nr, kk, du + xi * duPlane * 4, l.ldc, k0 > 0);
      }
    }
    t.winoFilterGrad(du, duPlane * 4, l.ldc * 4, ci, co / 4, dw, ci * co * 4);
    ov.set(k.f32.subarray(dw >>> 2, (dw >>> 2) + 9 * ci * co));
  } finally {
    k.release(mark);
  }
  return out;
}
