/**
 * The threshold pre-filter of the symmetric kNN search, compiled next to the SIMD GEMM (same wasm memory).
 * Once the per-row thresholds have risen (after each row's first tile), well under 1 % of a tile's scores can still
 * enter a top-k; looking at every score in JavaScript cost ~20 thread-seconds on 60 502², while this pass tests four
 * scores per instruction and hands JavaScript only the 4-column groups where some score may pass, on either side
 * (row r against column j, and — transposed — column j against row r).
 *
 * The keys tested are those of `symKey` (topk.ts), computed in float32 SIMD: kind 0 g; kind 1 2g − ‖y‖²;
 * kind 2 (2g − ‖x‖² − ‖y‖²)·w. For kind 1 the caller lowers each threshold by a bound on the float32-vs-float64
 * difference (kind 0 is exact); kind 2 raises each key by its own error bound in the scan. Either way the filter
 * never drops a score that the exact code would take.
 */
import { WASM_I32, WASM_V128, WasmCode, type WasmFunctionDef } from '@hier-ts/engine/simd';

export type ScanKind = 0 | 1 | 2;

/** Poincaré keys: the pre-filter raises each key by KEY_ERROR_EPS·(‖x‖² + ‖y‖²)·w (see scanFunction). */
export const KEY_ERROR_EPS = 2 ** -19;

/** Name of the exported scan function for a key kind. */
export function scanName(kind: ScanKind): string {
  return `scan${kind}`;
}

/**
 * scanK(c, ldcBytes, h, w4, rowThr, colThr, x2Row, x2Col, wRow, wCol, out) → entries written.
 * Each entry is an i32 (r << 17) | (j4 << 8) | mask for row r and columns 4·j4 .. 4·j4+3 of the tile: mask bit l
 * (l < 4) = column 4·j4+l may enter row r's top-k; bit 4+l = row r may enter that column's top-k.
 * Hence at most 2¹⁴ rows and 2¹¹ columns per call (`SCAN_MAX_COLS`; tiles are square, so it bounds rows too).
 */
export const SCAN_MAX_COLS = 2 ** 11;

/** Decodes one scan entry. */
export function scanEntryRow(e: number): number {
  return e >>> 17;
}
export function scanEntryCol(e: number): number {
  return ((e >>> 8) & 0x1ff) * 4;
}
export function scanEntryMask(e: number): number {
  return e & 0xff;
}

export function scanFunction(kind: ScanKind): WasmFunctionDef {
  const [C, LDC, H, W4, ROW_THR, COL_THR, X2_ROW, X2_COL, W_ROW, W_COL, OUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  // i32 locals
  const r = 11;
  const j = 12;
  const rowPtr = 13;
  const n = 14;
  const colOff = 15; // 16·j
  const mask = 16;
  // v128 locals
  const tr = 17;
  const xr = 18;
  const wr = 19;
  const g = 20;
  const nd = 21;

  const c = new WasmCode();
  c.i32(0).set(n).i32(0).set(r);
  c.block().loop();
  c.get(r).get(H).ltU().eqz().brIf(1);
  c.get(C).get(r).get(LDC).mul().add().set(rowPtr);
  c.get(ROW_THR).get(r).i32(4).mul().add().v128Load32Splat().set(tr);
  if (kind !== 0) c.get(X2_ROW).get(r).i32(4).mul().add().v128Load32Splat().set(xr);
  if (kind === 2) c.get(W_ROW).get(r).i32(4).mul().add().v128Load32Splat().set(wr);
  c.i32(0).set(j);
  c.block().loop();
  c.get(j).get(W4).ltU().eqz().brIf(1);
  c.get(j).i32(16).mul().set(colOff);
  c.get(rowPtr).get(colOff).add().v128Load().set(g);
  // Row-side lanes → bits 0..3, column-side lanes → bits 4..7.
  if (kind === 0) {
    c.get(g).get(tr).f32x4Ge().i32x4Bitmask();
    c.get(g).get(COL_THR).get(colOff).add().v128Load().f32x4Ge().i32x4Bitmask();
  } else if (kind === 1) {
    // v1 = 2g − ‖y_col‖² against the row's threshold; v2 = 2g − ‖x_row‖² against the column's
    c.get(g).get(g).f32x4Add().get(X2_COL).get(colOff).add().v128Load().f32x4Sub().get(tr).f32x4Ge().i32x4Bitmask();
    c.get(g).get(g).f32x4Add().get(xr).f32x4Sub().get(COL_THR).get(colOff).add().v128Load().f32x4Ge().i32x4Bitmask();
  } else {
    // sum = ‖x‖² + ‖y‖²; nd = 2g − sum (= −‖x−y‖²); v1 = nd·w_col against the row's threshold, v2 = nd·w_row against
    // the column's. The float32 keys may fall below the exact ones by at most ~9u·sum·w (u = 2⁻²⁴: the roundings
    // here, the exact key's own rounding, and |key| ≤ 2·sum·w since 2|g| ≤ sum). Scaling sum by (1 − KEY_ERROR_EPS)
    // raises every key by KEY_ERROR_EPS·sum·w = 32u·sum·w, more than that, at the cost of one multiply, so the
    // filter never drops what the exact key would take.
    c.get(g).get(g).f32x4Add().get(xr).get(X2_COL).get(colOff).add().v128Load().f32x4Add().f32x4Const(1 - KEY_ERROR_EPS).f32x4Mul().f32x4Sub().set(nd);
    c.get(nd).get(W_COL).get(colOff).add().v128Load().f32x4Mul().get(tr).f32x4Ge().i32x4Bitmask();
    c.get(nd).get(wr).f32x4Mul().get(COL_THR).get(colOff).add().v128Load().f32x4Ge().i32x4Bitmask();
  }
  c.i32(4).shl().or().tee(mask).if_();
  c.get(OUT).get(n).i32(4).mul().add().get(r).i32(17).shl().get(j).i32(8).shl().or().get(mask).or().i32Store();
  c.inc(n, 1);
  c.end();
  c.inc(j, 1).br(0).end().end();
  c.inc(r, 1).br(0).end().end();
  c.get(n);
  return {
    name: scanName(kind),
    params: new Array(11).fill(WASM_I32),
    results: [WASM_I32],
    locals: [...new Array(6).fill(WASM_I32), ...new Array(5).fill(WASM_V128)],
    body: c,
  };
}
