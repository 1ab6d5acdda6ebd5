import type { tf } from '../tf.js';
import type { SimdGemm } from '../simd/gemm.js';
import { type WinogradTransforms, winogradExportNames } from '../simd/winograd.js';
import type { ConvGeometry } from './conv-gemm.js';
import { GEMM_K_BLOCK, GEMM_ROW_CHUNK, simdGemm } from './batch-mat-mul.js';
import { asWasmBackend, type WasmBackendLike } from './util.js';

/**
 * 3×3 stride-1 "same" convolutions by Winograd's F(m×m, 3×3), m = 2 or 4 (simd/winograd.ts has the math): 16
 * multiplies per 2×2 output tile and channel pair instead of 36, or 36 per 4×4 instead of 144, as (m+2)² products on
 * the FMA GEMM between SIMD tile transforms, all in the GEMM's own memory. ResNet's 3×3 layers (the bottleneck
 * middles, every ResNet-18 layer after the stem) are most of its arithmetic; the forward, the input gradient (a
 * forward convolution with the flipped filter) and the filter gradient (the adjoint) all take this path.
 *
 * Numerics: the transforms change the summation order and scale by small constants, so results differ from a direct
 * convolution by rounding (~1e-6 relative for m = 2, ~5e-6 for m = 4 at 64 channels); the golden parity cases pass.
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

/** Output tile size: 4 (F(4×4, 3×3), 36 multiplies per 16 outputs) where it has enough tiles, else 2; or forced. */
export type ConvWinogradTile = 'auto' | 2 | 4;
let tileChoice: ConvWinogradTile = 'auto';
/** Sets the output tile size (`auto`, or 2 / 4 for tests and benchmarks); returns the previous choice. */
export function setConvWinogradTile(next: ConvWinogradTile): ConvWinogradTile {
  const prev = tileChoice;
  tileChoice = next;
  return prev;
}
/**
 * 4×4 output tiles from this many (n·⌈oh/4⌉·⌈ow/4⌉) on: their filter side is 36·ci·co floats (2.25× F(2×2)'s),
 * which small batches of small maps do not amortise (ResNet layer3/layer4 at 64 px, layer4 at 224 px).
 */
const MIN_TILES_4 = 128;

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

/** Tiles and the byte sizes of every region one call needs, for output tiles of m×m (input tiles (m+2)², as many planes). */
function layoutOf(g: ConvGeometry, k: SimdGemm, m: 2 | 4) {
  const planes = (m + 2) ** 2;
  const th = Math.ceil(g.oh / m);
  const tw = Math.ceil(g.ow / m);
  const tiles = g.n * th * tw;
  const blocks = Math.ceil(tiles / k.mr);
  const tilesPadded = blocks * k.mr;
  const ldc = Math.ceil(g.co / k.nr) * k.nr;
  const hp = m * th + 2;
  const wp = m * tw + 2;
  const xp = g.n * hp * wp * g.ci * 4;
  const v = planes * tilesPadded * g.ci * 4;
  const y = g.n * m * th * m * tw * g.co * 4;
  const forward = xp + v + 9 * g.ci * g.co * 4 + planes * k.panelsBytes(g.co, g.ci) + planes * tilesPadded * ldc * 4 + y;
  const ciBlocks = Math.ceil(g.ci / k.mr);
  const kc = Math.min(tilesPadded, GEMM_K_BLOCK);
  const filterGrad = xp + v + y + planes * tilesPadded * g.co * 4 + k.rowBlocksBytes(g.ci, kc) + k.panelsBytes(g.co, kc) + planes * ciBlocks * k.mr * ldc * 4 + 9 * g.ci * g.co * 4;
  return { m, planes, th, tw, tiles, blocks, tilesPadded, ldc, hp, wp, ciBlocks, kc, bytes: { xp, v }, total: Math.max(forward, filterGrad) };
}
/** How a convolution runs as Winograd (tile size and memory layout), from `winogradPlan`. */
export type WinogradPlan = ReturnType<typeof layoutOf>;

/**
 * The plan a convolution of this geometry (dilation 1) runs with as Winograd F(m×m, 3×3), or null for the direct
 * kernels; `inputGrad`: for its input gradient (the same convolution with channels swapped).
 */
export function winogradPlan(g: ConvGeometry, inputGrad = false): WinogradPlan | null {
  if (mode === 'off') return null;
  if (g.kh !== 3 || g.kw !== 3 || g.sh !== 1 || g.sw !== 1 || g.top !== 1 || g.left !== 1 || g.oh !== g.h || g.ow !== g.w) return null;
  if (g.ci % 4 !== 0 || g.co % 4 !== 0) return null;
  const k = simdGemm();
  if (k === null || k.unroll !== 1) return null;
  const run = inputGrad ? { ...g, ci: g.co, co: g.ci } : g;
  const four = layoutOf(run, k, 4);
  const m = tileChoice === 'auto' ? (four.tiles >= MIN_TILES_4 ? 4 : 2) : tileChoice;
  const l = m === 4 ? four : layoutOf(run, k, 2);
  if (mode === 'auto' && (g.ci < MIN_CHANNELS || g.co < MIN_CHANNELS || l.tiles < MIN_TILES)) return null;
  return l.total <= MAX_BYTES ? l : null;
}

/** The output tile size a convolution (or its input gradient) runs with: 4, 2, or 0 for the direct kernels. */
export function convWinogradTileFor(g: ConvGeometry, inputGrad = false): 0 | 2 | 4 {
  return winogradPlan(g, inputGrad)?.m ?? 0;
}

/** Whether a convolution (or its input gradient) runs as Winograd: `winogradPlan` is not null. */
export function preferConvWinograd(g: ConvGeometry, inputGrad = false): boolean {
  return winogradPlan(g, inputGrad) !== null;
}

function transforms(k: SimdGemm, m: 2 | 4): WinogradTransforms {
  const names = winogradExportNames(m);
  return Object.fromEntries(Object.entries(names).map(([key, name]) => [key, k.exported(name)])) as unknown as WinogradTransforms;
}

/** Copies x [n, h, w, ci] into the zero-padded tile grid [n, hp, wp, ci] at `xp` (one pixel of padding top/left) and fills V. */
function transformInput(k: SimdGemm, t: WinogradTransforms, xv: Float32Array, g: ConvGeometry, l: WinogradPlan, xp: number, v: number): void {
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
  if (l.tilesPadded > l.tiles) for (let xi = 0; xi < l.planes; xi++) mem.fill(0, (v >>> 2) + xi * plane + l.tiles * g.ci, (v >>> 2) + (xi + 1) * plane);
  t.input(xp, l.hp * l.wp * g.ci * 4, l.wp * g.ci * 4, g.ci * 4, v, plane * 4, g.n, l.th, l.tw, g.ci / 4);
}

/** y = conv3×3(x, W) (stride 1, same padding) for NHWC x and HWIO W, with `winogradPlan(g)`. */
export function convWinograd(xInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, plan: WinogradPlan, backend: unknown): tf.TensorInfo {
  return winogradForward(xInfo, fInfo, g, plan, false, asWasmBackend(backend, 'Conv2D'));
}

/**
 * dx of a 3×3 stride-1 same convolution (g is its forward geometry): the same convolution of dy with the filter
 * flipped in space and transposed in channels. The filter transforms read the taps in reverse order and write the
 * transpose straight into the B panels, so W is used as it is. `plan` is `winogradPlan(g, true)`.
 */
export function convWinogradInputGrad(dyInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, plan: WinogradPlan, backend: unknown): tf.TensorInfo {
  const swapped: ConvGeometry = { ...g, h: g.oh, w: g.ow, ci: g.co, co: g.ci };
  return winogradForward(dyInfo, fInfo, swapped, plan, true, asWasmBackend(backend, 'Conv2DBackpropInput'));
}

/**
 * conv(src, W) on tiles; `flipped`: W is [3, 3, co, ci] of a forward convolution whose input gradient this is
 * (g describes the run: src channels g.ci, output channels g.co).
 */
function winogradForward(srcInfo: tf.TensorInfo, fInfo: tf.TensorInfo, g: ConvGeometry, l: WinogradPlan, flipped: boolean, wasm: WasmBackendLike): tf.TensorInfo {
  const k = simdGemm()!;
  const t = transforms(k, l.m);
  const out = wasm.makeOutput([g.n, g.oh, g.ow, g.co], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const xv = wasm.typedArrayFromHeap(srcInfo) as Float32Array;
  const fv = wasm.typedArrayFromHeap(fInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const { ci, co } = g;
  const P = l.planes;
  const mark = k.mark();
  try {
    const xp = k.alloc(l.bytes.xp);
    const v = k.alloc(l.bytes.v);
    const f = k.alloc(9 * ci * co * 4);
    // B[ξ] is [k = ci, n = co] packed in panels of nr columns (for the input gradient, of U of the flipped filter).
    const panelBytes = k.panelsBytes(co, ci);
    const up = k.alloc(P * panelBytes);
    const mPlane = l.tilesPadded * l.ldc;
    const m = k.alloc(P * mPlane * 4);
    const yh = l.m * l.th;
    const yw = l.m * l.tw;
    const y = k.alloc(g.n * yh * yw * co * 4);
    transformInput(k, t, xv, g, l, xp, v);
    const mem = k.f32;
    mem.set(fv, f >>> 2);
    if (co % k.nr !== 0) {
      // The transforms skip the last panel's pad columns; the GEMM reads them.
      const last = Math.floor(co / k.nr) * ci * k.nr;
      for (let xi = 0; xi < P; xi++) mem.fill(0, (up + xi * panelBytes) / 4 + last, (up + (xi + 1) * panelBytes) / 4);
    }
    if (!flipped) t.filter(f, ci, co, up, panelBytes);
    else t.filterFlipped(f, co, ci, up, panelBytes); // the forward conv's filter is [3, 3, co, ci] here
    const chunk = Math.max(1, Math.ceil(GEMM_ROW_CHUNK / k.mr));
    for (let xi = 0; xi < P; xi++) {
      const a = v + xi * l.tilesPadded * ci * 4;
      const c = m + xi * mPlane * 4;
      for (let b0 = 0; b0 < l.blocks; b0 += chunk) {
        const nb = Math.min(chunk, l.blocks - b0);
        k.gemmRows(a + b0 * k.mr * ci * 4, ci, nb, up + xi * panelBytes, l.ldc / k.nr, ci, c + b0 * k.mr * l.ldc * 4, l.ldc);
      }
    }
    t.output(m, mPlane * 4, l.ldc * 4, y, yh * yw * co * 4, yw * co * 4, co * 4, g.n, l.th, l.tw, co / 4);
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

/** dW [3, 3, ci, co] of a 3×3 stride-1 same convolution from x and dy, with `winogradPlan(g)`. */
export function convWinogradFilterGrad(xInfo: tf.TensorInfo, dyInfo: tf.TensorInfo, g: ConvGeometry, l: WinogradPlan, backend: unknown): tf.TensorInfo {
  const k = simdGemm()!;
  const t = transforms(k, l.m);
  const P = l.planes;
  const wasm = asWasmBackend(backend, 'Conv2DBackpropFilter');
  const out = wasm.makeOutput([3, 3, g.ci, g.co], 'float32');
  const xv = wasm.typedArrayFromHeap(xInfo) as Float32Array;
  const dyv = wasm.typedArrayFromHeap(dyInfo) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const { ci, co } = g;
  const mark = k.mark();
  try {
    const xp = k.alloc(l.bytes.xp);
    const v = k.alloc(l.bytes.v);
    const yh = l.m * l.th;
    const yw = l.m * l.tw;
    const dy = k.alloc(g.n * yh * yw * co * 4);
    const dmPlane = l.tilesPadded * co;
    const dm = k.alloc(P * dmPlane * 4);
    // k (the tiles) runs in blocks whose packed A and B stay in cache, as simdProduct does for long products.
    const kc = l.kc;
    const aPacked = k.alloc(k.rowBlocksBytes(ci, kc));
    const bPacked = k.alloc(k.panelsBytes(co, kc));
    const duPlane = l.ciBlocks * k.mr * l.ldc;
    const du = k.alloc(P * duPlane * 4);
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
    if (l.tilesPadded > l.tiles) for (let xi = 0; xi < P; xi++) mem.fill(0, (dm >>> 2) + xi * dmPlane + l.tiles * co, (dm >>> 2) + (xi + 1) * dmPlane);
    t.outputGrad(dy, yh * yw * co * 4, yw * co * 4, co * 4, dm, dmPlane * 4, g.n, l.th, l.tw, co / 4);
    // dU[ξ] = V[ξ]ᵀ · dM[ξ]: [ci, tiles] · [tiles, co], k running over the tiles.
    for (let xi = 0; xi < P; xi++) {
      for (let k0 = 0; k0 < l.tilesPadded; k0 += kc) {
        const kk = Math.min(kc, l.tilesPadded - k0);
        k.packTransposedAt(v + (xi * l.tilesPadded + k0) * ci * 4, ci, kk, ci, aPacked);
        k.packAt(dm + (xi * dmPlane + k0 * co) * 4, co, kk, 4, co * 4, bPacked, k.nr);
        k.gemm(aPacked, l.ciBlocks, bPacked, l.ldc / k.nr, kk, du + xi * duPlane * 4, l.ldc, k0 > 0);
      }
    }
    t.filterGrad(du, duPlane * 4, l.ldc * 4, ci, co / 4, dw, ci * co * 4);
    ov.set(k.f32.subarray(dw >>> 2, (dw >>> 2) + 9 * ci * co));
  } finally {
    k.release(mark);
  }
  return out;
}
