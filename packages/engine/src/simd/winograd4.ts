/**
 * Winograd F(4×4, 3×3) tile transforms (interpolation points 0, ±1, ±2, ∞; Lavin & Gray 2016): 36 multiplies per
 * 4×4 output tile and channel pair instead of 144 for the direct convolution (F(2×2, 3×3): 16 per 2×2, i.e. 64 per
 * 4×4). Same conventions as winograd.ts: SIMD over four channels, byte pointers, compiled into the GEMM's module.
 * Every transform is one 2-D linear map T → L·T·Lᵀ, emitted by `transform2d` from its matrix.
 */
import { Code, type FunctionDef, I32, V128, type ValType } from './wasm-builder.js';

/** Bᵀ (6×6): input tile d → Bᵀ d B. */
export const BT4 = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];
/** G (6×3): filter g → G g Gᵀ. */
export const G4 = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];
/** Aᵀ (4×6): product tile m → Aᵀ m A. */
export const AT4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];
const transpose = (m: number[][]) => m[0]!.map((_, j) => m.map((row) => row[j]!));

/** `for (counter = 0; counter < limit; counter++) body()` over i32 locals. */
function forLoop(c: Code, counter: number, limit: number, body: () => void): void {
  c.i32(0).set(counter);
  c.block().loop();
  c.get(counter).get(limit).ltU().eqz().brIf(1);
  body();
  c.inc(counter, 1).br(0).end().end();
}

/** dst = Σ_j row[j]·src(j) over v128 locals (zero coefficients skipped, ±1 as add/sub). */
function combo(c: Code, row: number[], src: (j: number) => number, dst: number): void {
  let first = true;
  for (let j = 0; j < row.length; j++) {
    const w = row[j]!;
    if (w === 0) continue;
    if (first && w < 0) c.v128Zero();
    c.get(src(j));
    if (Math.abs(w) !== 1) c.f32x4Const(Math.abs(w)).f32x4Mul();
    if (first) {
      if (w < 0) c.f32x4Sub();
    } else if (w < 0) c.f32x4Sub();
    else c.f32x4Add();
    first = false;
  }
  if (first) c.v128Zero();
  c.set(dst);
}

/** Locals of one transform: q input column vectors, p×q intermediate, one output temp (indices from `base`). */
function transformLocals(base: number, p: number, q: number) {
  const col = Array.from({ length: q }, (_, r) => base + r);
  const s = Array.from({ length: p }, (_, i) => Array.from({ length: q }, (_, j) => base + q + i * q + j));
  const out = base + q + p * q;
  return { col, s, out, count: q + p * q + 1 };
}

/**
 * out = L·T·Lᵀ for a q×q tile T (L is p×q): `load(r, j)` pushes T[r][j]; `store(i, j, push)` stores out[i][j], with
 * `push()` pushing its value. Columns of T are loaded one at a time.
 */
function transform2d(c: Code, L: number[][], lc: ReturnType<typeof transformLocals>, load: (r: number, j: number) => void, store: (i: number, j: number, push: () => void) => void): void {
  const p = L.length;
  const q = L[0]!.length;
  for (let j = 0; j < q; j++) {
    for (let r = 0; r < q; r++) {
      load(r, j);
      c.set(lc.col[r]!);
    }
    for (let i = 0; i < p; i++) combo(c, L[i]!, (k) => lc.col[k]!, lc.s[i]![j]!);
  }
  for (let i = 0; i < p; i++)
    for (let j = 0; j < p; j++) {
      combo(c, L[j]!, (k) => lc.s[i]![k]!, lc.out);
      store(i, j, () => c.get(lc.out));
    }
}

/** Pushes `ptr + k·stride` (stride an i32 local, k a constant). */
function at(c: Code, ptr: number, stride: number, k: number): Code {
  c.get(ptr);
  if (k === 1) c.get(stride).add();
  else if (k !== 0) c.get(stride).i32(k).mul().add();
  return c;
}

/** Pushes `ptr + a·s1 + b·s2`. */
function at2(c: Code, ptr: number, s1: number, a: number, s2: number, b: number): Code {
  at(c, ptr, s1, a);
  if (b === 1) c.get(s2).add();
  else if (b !== 0) c.get(s2).i32(b).mul().add();
  return c;
}

/** wino4Input(xp, imgBytes, rowBytes, pixelBytes, v, vStride, n, th, tw, groups): V[ξ][t][c] = (Bᵀ d B)[ξ] of every 6×6 tile (stride 4) of the padded input; ξ = 6i + j. */
function input4(): FunctionDef {
  const [XP, IMG, ROW, PIX, V, VS, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [img, ty, tx, k, base, vt] = [10, 11, 12, 13, 14, 15];
  const ints = 6;
  const lc = transformLocals(10 + ints, 6, 6);
  const c = new Code();
  c.get(V).set(vt);
  forLoop(c, img, N, () =>
    forLoop(c, ty, TH, () =>
      forLoop(c, tx, TW, () => {
        c.get(XP).get(img).get(IMG).mul().add().get(ty).get(ROW).mul().i32(2).shl().add().get(tx).get(PIX).mul().i32(2).shl().add().set(base);
        forLoop(c, k, GROUPS, () => {
          transform2d(c, BT4, lc, (r, j) => at2(c, base, ROW, r, PIX, j).v128Load(), (i, j, push) => {
            at(c, vt, VS, 6 * i + j);
            push();
            c.v128Store();
          });
          c.inc(base, 16).inc(vt, 16);
        });
      }),
    ),
  );
  return { name: 'wino4Input', params: new Array<ValType>(10).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/**
 * wino4FilterPacked(g, ci, co, up, planeBytes) and the flipped variant: U = G g Gᵀ (36 planes) of an HWIO 3×3 filter
 * straight into B panels, as winograd.ts's F(2×2) version. Flipped (input gradient): taps read in reverse (the
 * spatial flip) and B[ξ] = Uᵀ as [k = co, n = ci] (lane stores).
 */
function filter4(nr: number, flipped: boolean): FunctionDef {
  const [G, CI, CO, UP, PLANE] = [0, 1, 2, 3, 4];
  const [r, k, gp, tap, dst, rowDst, inner, panelJump, q] = [5, 6, 7, 8, 9, 10, 11, 12, 13];
  const ints = 9;
  const lc = transformLocals(5 + ints, 6, 3);
  const row = nr * 4;
  const c = new Code();
  c.get(CI).get(CO).mul().i32(4).mul().set(tap);
  c.get(G).set(gp);
  if (!flipped) c.get(CI).i32(row).mul().i32(row).sub().set(panelJump);
  forLoop(c, r, CI, () => {
    if (!flipped) c.get(UP).get(r).i32(row).mul().add().set(rowDst);
    else {
      c.get(UP).get(r).i32(nr).divU().get(CO).mul().i32(row).mul().add();
      c.get(r).get(r).i32(nr).divU().i32(nr).mul().sub().i32(4).mul().add().set(rowDst);
    }
    c.get(rowDst).set(dst);
    c.i32(0).set(inner);
    c.get(CO).i32(2).shrU().set(k);
    c.block().loop();
    c.get(k).eqz().brIf(1);
    transform2d(
      c,
      G4,
      lc,
      (a, b) => at(c, gp, tap, flipped ? 3 * (2 - a) + (2 - b) : 3 * a + b).v128Load(),
      (i, j, push) => {
        at(c, dst, PLANE, 6 * i + j);
        if (!flipped) {
          push();
          c.v128Store();
        } else {
          // four consecutive k rows of one column: one lane each
          c.set(q);
          for (let lane = 0; lane < 4; lane++) {
            c.get(q);
            push();
            c.f32x4ExtractLane(lane).f32Store(lane * row);
          }
        }
      },
    );
    c.inc(gp, 16);
    if (!flipped) {
      c.inc(dst, 16).inc(inner, 4);
      c.get(inner).i32(nr).eq().if_().i32(0).set(inner).get(dst).get(panelJump).add().set(dst).end();
    } else c.inc(dst, 4 * row);
    c.get(k).i32(1).sub().set(k);
    c.br(0).end().end();
  });
  return {
    name: flipped ? 'wino4FilterPackedFlipped' : 'wino4FilterPacked',
    params: new Array<ValType>(5).fill(I32),
    results: [],
    locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)],
    body: c,
  };
}

/** wino4Output(m, mStride, mRowBytes, y, imgBytes, yRowBytes, pixelBytes, n, th, tw, groups): Aᵀ M A per tile into y [n, 4·th, 4·tw, co]. */
function output4(): FunctionDef {
  const [M, MS, MROW, Y, IMG, YROW, PIX, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [img, ty, tx, k, mt, mp, yp] = [11, 12, 13, 14, 15, 16, 17];
  const ints = 7;
  const lc = transformLocals(11 + ints, 4, 6);
  const c = new Code();
  c.get(M).set(mt);
  forLoop(c, img, N, () =>
    forLoop(c, ty, TH, () =>
      forLoop(c, tx, TW, () => {
        c.get(mt).set(mp);
        c.get(Y).get(img).get(IMG).mul().add().get(ty).get(YROW).mul().i32(2).shl().add().get(tx).get(PIX).mul().i32(2).shl().add().set(yp);
        forLoop(c, k, GROUPS, () => {
          transform2d(c, AT4, lc, (r, j) => at(c, mp, MS, 6 * r + j).v128Load(), (i, j, push) => {
            at2(c, yp, YROW, i, PIX, j);
            push();
            c.v128Store();
          });
          c.inc(mp, 16).inc(yp, 16);
        });
        c.get(mt).get(MROW).add().set(mt);
      }),
    ),
  );
  return { name: 'wino4Output', params: new Array<ValType>(11).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/** wino4OutputGrad(dy, imgBytes, yRowBytes, pixelBytes, dm, dmStride, n, th, tw, groups): dM = A dy Aᵀ per 4×4 tile of dy [n, 4·th, 4·tw, co]. */
function outputGrad4(): FunctionDef {
  const [DY, IMG, YROW, PIX, DM, DS, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [img, ty, tx, k, yp, dp] = [10, 11, 12, 13, 14, 15];
  const ints = 6;
  const lc = transformLocals(10 + ints, 6, 4);
  const A = transpose(AT4);
  const c = new Code();
  c.get(DM).set(dp);
  forLoop(c, img, N, () =>
    forLoop(c, ty, TH, () =>
      forLoop(c, tx, TW, () => {
        c.get(DY).get(img).get(IMG).mul().add().get(ty).get(YROW).mul().i32(2).shl().add().get(tx).get(PIX).mul().i32(2).shl().add().set(yp);
        forLoop(c, k, GROUPS, () => {
          transform2d(c, A, lc, (r, j) => at2(c, yp, YROW, r, PIX, j).v128Load(), (i, j, push) => {
            at(c, dp, DS, 6 * i + j);
            push();
            c.v128Store();
          });
          c.inc(yp, 16).inc(dp, 16);
        });
      }),
    ),
  );
  return { name: 'wino4OutputGrad', params: new Array<ValType>(10).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/** wino4FilterGrad(du, duStride, duRowBytes, ci, groups, dw, tapBytes): dg = Gᵀ dU G into the HWIO filter gradient. */
function filterGrad4(): FunctionDef {
  const [DU, DS, DROW, CI, GROUPS, DW, TAP] = [0, 1, 2, 3, 4, 5, 6];
  const [r, k, rowStart, up, wp] = [7, 8, 9, 10, 11];
  const ints = 5;
  const lc = transformLocals(7 + ints, 3, 6);
  const Gt = transpose(G4);
  const c = new Code();
  c.get(DU).set(rowStart).get(DW).set(wp);
  forLoop(c, r, CI, () => {
    c.get(rowStart).set(up);
    forLoop(c, k, GROUPS, () => {
      transform2d(c, Gt, lc, (a, b) => at(c, up, DS, 6 * a + b).v128Load(), (a, b, push) => {
        at(c, wp, TAP, 3 * a + b);
        push();
        c.v128Store();
      });
      c.inc(up, 16).inc(wp, 16);
    });
    c.get(rowStart).get(DROW).add().set(rowStart);
  });
  return { name: 'wino4FilterGrad', params: new Array<ValType>(7).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/** The F(4×4, 3×3) transforms, for `SimdGemm.create({ extra })`; `nr` is the GEMM's panel width. */
export function winograd4Functions(nr: number): FunctionDef[] {
  return [input4(), filter4(nr, false), filter4(nr, true), output4(), outputGrad4(), filterGrad4()];
}

export interface Winograd4Exports {
  wino4Input(xp: number, imgBytes: number, rowBytes: number, pixelBytes: number, v: number, vStride: number, n: number, th: number, tw: number, groups: number): void;
  wino4FilterPacked(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  wino4FilterPackedFlipped(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  wino4Output(m: number, mStride: number, mRowBytes: number, y: number, imgBytes: number, yRowBytes: number, pixelBytes: number, n: number, th: number, tw: number, groups: number): void;
  wino4OutputGrad(dy: number, imgBytes: number, yRowBytes: number, pixelBytes: number, dm: number, dmStride: number, n: number, th: number, tw: number, groups: number): void;
  wino4FilterGrad(du: number, duStride: number, duRowBytes: number, ci: number, groups: number, dw: number, tapBytes: number): void;
}
