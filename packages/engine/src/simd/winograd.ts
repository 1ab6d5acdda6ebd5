/**
 * The tile transforms of Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2016) for m = 2 and m = 4, as wasm
 * SIMD loops four channels at a time (NHWC keeps channels adjacent). They are compiled into the FMA GEMM's module
 * (`SimdGemm.create({ extra })`), so transforms and products share one memory and nothing is copied between them.
 *
 * With d an (m+2)×(m+2) input tile (stride m), g a 3×3 filter and y the m×m output tile of a stride-1 correlation:
 *   y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
 * Over channels the ⊙ becomes (m+2)² independent products V[ξ]·U[ξ] (tiles × ci times ci × co): 16 multiplies per
 * 2×2 outputs, 36 per 4×4, against 36 and 144 for the direct convolution. The filter gradient is the adjoint:
 *   dU[ξ] = V[ξ]ᵀ · dM[ξ],  dM = A dy Aᵀ per tile,  dg = Gᵀ dU G.
 * Every transform is one 2-D linear map T → L·T·Lᵀ, emitted by `transform2d` from its matrix. Strides are parameters
 * and pointers are bytes, so one module serves every layer.
 */
import { Code, type FunctionDef, I32, V128, type ValType } from './wasm-builder.js';

/** F(2×2, 3×3), points 0, ±1, ∞. */
const F2 = {
  BT: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  G: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

/** Bᵀ (6×6) of F(4×4, 3×3), points 0, ±1, ±2, ∞: input tile d → Bᵀ d B. */
const BT4 = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];
/** G (6×3): filter g → G g Gᵀ. */
const G4 = [
  [1 / 4, 0, 0],
  [-1 / 6, -1 / 6, -1 / 6],
  [-1 / 6, 1 / 6, -1 / 6],
  [1 / 24, 1 / 12, 1 / 6],
  [1 / 24, -1 / 12, 1 / 6],
  [0, 0, 1],
];
/** Aᵀ (4×6): product tile m → Aᵀ m A. */
const AT4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 1],
];
const F4 = { BT: BT4, G: G4, AT: AT4 };
const transpose = (m: number[][]) => m[0]!.map((_, j) => m.map((row) => row[j]!));

/**
 * Loops over the tiles (image, ty, tx) of an NHWC tensor and, per tile, over its channel groups: `tile` is set to
 * origin + img·imgBytes + m·(ty·rowBytes + tx·pixelBytes) (the tile's first pixel, channel 0) before `beforeGroups`.
 */
function forEachTile(
  c: Code,
  m: number,
  locals: { img: number; ty: number; tx: number; k: number; tile: number },
  params: { ORIGIN: number; IMG: number; ROW: number; PIX: number; N: number; TH: number; TW: number; GROUPS: number },
  body: { beforeGroups?: () => void; perGroup: () => void; afterGroups?: () => void },
): void {
  const { img, ty, tx, k, tile } = locals;
  const { ORIGIN, IMG, ROW, PIX, N, TH, TW, GROUPS } = params;
  const shift = Math.log2(m);
  c.forUp(img, N, () =>
    c.forUp(ty, TH, () =>
      c.forUp(tx, TW, () => {
        c.get(ORIGIN).get(img).get(IMG).mul().add().get(ty).get(ROW).mul().i32(shift).shl().add().get(tx).get(PIX).mul().i32(shift).shl().add().set(tile);
        body.beforeGroups?.();
        c.forUp(k, GROUPS, body.perGroup);
        body.afterGroups?.();
      }),
    ),
  );
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

type Spec = typeof F2;

/**
 * Tiles of an NHWC tensor to transform planes: for every tile t (image, ty, tx order; stride m) and channel group,
 * out[ξ][t][c] = (L T Lᵀ)[ξ] with T the q×q tile at the tile's origin (L is p×q, ξ = p·i + j); out rows hold
 * `groups`·4 channels and ξ planes are `outStride` bytes apart. Params: (src, imgBytes, rowBytes, pixelBytes, out,
 * outStride, n, th, tw, groups).
 * - winoMInput: the input transform, L = Bᵀ, q = m + 2 (overlapping (m+2)² tiles of the zero-padded input).
 * - winoMOutputGrad: the adjoint of the output transform, L = A, q = m (dM = A dy Aᵀ per m×m tile of dy, zero-padded
 *   to whole tiles).
 */
function tilesToPlanes(name: string, m: number, L: number[][]): FunctionDef {
  const p = L.length;
  const q = L[0]!.length;
  const [SRC, IMG, ROW, PIX, OUT, OS, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [img, ty, tx, k, tile, op] = [10, 11, 12, 13, 14, 15];
  const ints = 6;
  const lc = transformLocals(10 + ints, p, q);
  const c = new Code();
  c.get(OUT).set(op);
  forEachTile(c, m, { img, ty, tx, k, tile }, { ORIGIN: SRC, IMG, ROW, PIX, N, TH, TW, GROUPS }, {
    perGroup: () => {
      transform2d(c, L, lc, (r, j) => at2(c, tile, ROW, r, PIX, j).v128Load(), (i, j, push) => {
        at(c, op, OS, p * i + j);
        push();
        c.v128Store();
      });
      c.inc(tile, 16).inc(op, 16);
    },
  });
  return { name, params: new Array<ValType>(10).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/**
 * winoMFilterPacked(g, ci, co, up, planeBytes): U[ξ] = (G g Gᵀ)[ξ] of an HWIO 3×3 filter g [3, 3, ci, co], written
 * straight into the GEMM's B panel layout (panels of `nr` columns, each [k rows][nr], plane ξ at up + ξ·planeBytes),
 * so U is never stored unpacked and re-read: B[ξ] = U[ξ] as [k = ci, n = co], four co values per vector store.
 * winoMFilterPackedFlipped (input gradient): U of the spatially flipped filter (taps read in reverse order) as
 * B[ξ] = Uᵀ, [k = co, n = ci]: the four co values land in four panel rows (lane stores). Pad columns of the last
 * panel are not written (the caller zeroes them).
 */
function filterTransform(m: number, f: Spec, nr: number, flipped: boolean): FunctionDef {
  const a = m + 2;
  const [G, CI, CO, UP, PLANE] = [0, 1, 2, 3, 4];
  const [r, k, gp, tap, dst, rowDst, inner, panelJump, q] = [5, 6, 7, 8, 9, 10, 11, 12, 13];
  const ints = 9;
  const lc = transformLocals(5 + ints, a, 3);
  const row = nr * 4;
  const c = new Code();
  c.get(CI).get(CO).mul().i32(4).mul().set(tap);
  c.get(G).set(gp);
  if (!flipped) c.get(CI).i32(row).mul().i32(row).sub().set(panelJump);
  c.forUp(r, CI, () => {
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
      f.G,
      lc,
      (r0, c0) => at(c, gp, tap, flipped ? 3 * (2 - r0) + (2 - c0) : 3 * r0 + c0).v128Load(),
      (i, j, push) => {
        at(c, dst, PLANE, a * i + j);
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
    name: flipped ? `wino${m}FilterPackedFlipped` : `wino${m}FilterPacked`,
    params: new Array<ValType>(5).fill(I32),
    results: [],
    locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)],
    body: c,
  };
}

/**
 * winoMOutput(m, mStride, mRowBytes, y, imgBytes, yRowBytes, pixelBytes, n, th, tw, groups): the m×m output tile
 * Aᵀ M A of every tile t from the product planes M[ξ] (row t at m + t·mRowBytes, planes mStride apart) into y
 * [n, m·th, m·tw, co] (NHWC, `groups`·4 channels).
 */
function outputTransform(m: number, f: Spec): FunctionDef {
  const a = m + 2;
  const [M, MS, MROW, Y, IMG, YROW, PIX, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [img, ty, tx, k, mt, mp, yp] = [11, 12, 13, 14, 15, 16, 17];
  const ints = 7;
  const lc = transformLocals(11 + ints, m, a);
  const c = new Code();
  c.get(M).set(mt);
  forEachTile(c, m, { img, ty, tx, k, tile: yp }, { ORIGIN: Y, IMG, ROW: YROW, PIX, N, TH, TW, GROUPS }, {
    beforeGroups: () => c.get(mt).set(mp),
    perGroup: () => {
      transform2d(c, f.AT, lc, (r, j) => at(c, mp, MS, a * r + j).v128Load(), (i, j, push) => {
        at2(c, yp, YROW, i, PIX, j);
        push();
        c.v128Store();
      });
      c.inc(mp, 16).inc(yp, 16);
    },
    afterGroups: () => c.get(mt).get(MROW).add().set(mt),
  });
  return { name: `wino${m}Output`, params: new Array<ValType>(11).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/**
 * winoMFilterGrad(du, duStride, duRowBytes, ci, groups, dw, tapBytes): dg = Gᵀ dU G into the HWIO filter gradient dw
 * [3, 3, ci, co] (taps tapBytes apart), from the product planes dU[ξ] ([ci rows, `groups`·4 used columns], row
 * stride duRowBytes, planes duStride apart).
 */
function filterGradTransform(m: number, f: Spec): FunctionDef {
  const a = m + 2;
  const [DU, DS, DROW, CI, GROUPS, DW, TAP] = [0, 1, 2, 3, 4, 5, 6];
  const [r, k, rowStart, up, wp] = [7, 8, 9, 10, 11];
  const ints = 5;
  const lc = transformLocals(7 + ints, 3, a);
  const Gt = transpose(f.G);
  const c = new Code();
  c.get(DU).set(rowStart).get(DW).set(wp);
  c.forUp(r, CI, () => {
    c.get(rowStart).set(up);
    c.forUp(k, GROUPS, () => {
      transform2d(c, Gt, lc, (i, j) => at(c, up, DS, a * i + j).v128Load(), (i, j, push) => {
        at(c, wp, TAP, 3 * i + j);
        push();
        c.v128Store();
      });
      c.inc(up, 16).inc(wp, 16);
    });
    c.get(rowStart).get(DROW).add().set(rowStart);
  });
  return { name: `wino${m}FilterGrad`, params: new Array<ValType>(7).fill(I32), results: [], locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(lc.count).fill(V128)], body: c };
}

/** The transforms of both tile sizes (named wino2… and wino4…), for `SimdGemm.create({ extra })`; `nr` is the GEMM's panel width. */
export function winogradFunctions(nr: number): FunctionDef[] {
  return ([
    [2, F2],
    [4, F4],
  ] as const).flatMap(([m, f]) => [
    tilesToPlanes(`wino${m}Input`, m, f.BT),
    filterTransform(m, f, nr, false),
    filterTransform(m, f, nr, true),
    outputTransform(m, f),
    tilesToPlanes(`wino${m}OutputGrad`, m, transpose(f.AT)),
    filterGradTransform(m, f),
  ]);
}

/** The functions of one tile size, as exported (`wino${m}Input` etc.). */
export interface WinogradTransforms {
  input(xp: number, imgBytes: number, rowBytes: number, pixelBytes: number, v: number, vStride: number, n: number, th: number, tw: number, groups: number): void;
  filter(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  filterFlipped(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  output(m: number, mStride: number, mRowBytes: number, y: number, imgBytes: number, yRowBytes: number, pixelBytes: number, n: number, th: number, tw: number, groups: number): void;
  outputGrad(dy: number, imgBytes: number, yRowBytes: number, pixelBytes: number, dm: number, dmStride: number, n: number, th: number, tw: number, groups: number): void;
  filterGrad(du: number, duStride: number, duRowBytes: number, ci: number, groups: number, dw: number, tapBytes: number): void;
}

/** Export names of the functions of tile size m, keyed as `WinogradTransforms`. */
export function winogradExportNames(m: 2 | 4): Record<keyof WinogradTransforms, string> {
  return {
    input: `wino${m}Input`,
    filter: `wino${m}FilterPacked`,
    filterFlipped: `wino${m}FilterPackedFlipped`,
    output: `wino${m}Output`,
    outputGrad: `wino${m}OutputGrad`,
    filterGrad: `wino${m}FilterGrad`,
  };
}
