/**
 * The tile transforms of Winograd's F(2×2, 3×3) (Lavin & Gray 2016) as wasm SIMD loops, four channels at a time
 * (NHWC keeps channels adjacent). They are compiled into the FMA GEMM's module (`SimdGemm.create({ extra })`), so
 * transforms and products share one memory and nothing is copied between them.
 *
 * With d a 4×4 input tile (stride 2), g a 3×3 filter tap grid and y the 2×2 output tile of a stride-1 correlation:
 *   y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
 * Over channels the ⊙ becomes 16 independent products V[ξ]·U[ξ] (tiles × ci times ci × co), which is why it pays:
 * 16 multiplies per output tile and channel pair instead of 36. The filter gradient is the adjoint:
 *   dU[ξ] = V[ξ]ᵀ · dM[ξ],  dM = A dy Aᵀ per tile,  dg = Gᵀ dU G.
 *
 * Every function walks pointers in bytes; strides are parameters, so one module serves every layer.
 */
import { Code, type FunctionDef, I32, V128, type ValType } from './wasm-builder.js';

/** `for (counter = 0; counter < limit; counter++) body()` over i32 locals. */
function forLoop(c: Code, counter: number, limit: number, body: () => void): void {
  c.i32(0).set(counter);
  c.block().loop();
  c.get(counter).get(limit).ltU().eqz().brIf(1);
  body();
  c.inc(counter, 1).br(0).end().end();
}

/** Loads the vector at `ptr` + `offset` (an i32 local holding a byte offset, or 0). */
function loadAt(c: Code, ptr: number, offset: number | 0): Code {
  c.get(ptr);
  if (offset !== 0) c.get(offset).add();
  return c.v128Load();
}

/** Locals allocator: i32 locals first (after the params), then v128 ones. */
class Locals {
  readonly i32: number[] = [];
  readonly v128: number[] = [];
  constructor(private readonly params: number) {}
  int(): number {
    this.i32.push(0);
    return this.params + this.i32.length - 1;
  }
  vec(): number {
    this.v128.push(0);
    return -this.v128.length; // resolved by `fix`
  }
  /** v128 local index (they follow every i32 local). */
  fix(v: number): number {
    return this.params + this.i32.length + (-v - 1);
  }
  decl(): ValType[] {
    return [...this.i32.map((): ValType => I32), ...this.v128.map((): ValType => V128)];
  }
}

/** Emits `a + b`, `a − b` etc. on v128 locals into `dst`. */
function combine(c: Code, dst: number, terms: [number, number][], scale?: number): void {
  // terms: [local, sign]; the first term's sign must be +1 or the expression starts from zero.
  let first = true;
  for (const [v, s] of terms) {
    if (first) {
      if (s < 0) c.v128Zero().get(v).f32x4Sub();
      else c.get(v);
      first = false;
    } else {
      c.get(v);
      if (s < 0) c.f32x4Sub();
      else c.f32x4Add();
    }
  }
  if (scale !== undefined) c.f32x4Const(scale).f32x4Mul();
  c.set(dst);
}

/**
 * winoInput(xp, imgBytes, rowBytes, pixelBytes, v, vStride, n, th, tw, groups): V[ξ][t][c] = (Bᵀ d B)[ξ] of every 4×4
 * tile d of the zero-padded input xp (tile (ty, tx) starts at padded row 2·ty, column 2·tx), tiles t in (image, ty,
 * tx) order, ξ = 4i + j; V rows hold `groups`·4 channels and ξ planes are `vStride` bytes apart.
 */
function inputTransform(): FunctionDef {
  const [XP, IMG, ROW, PIX, V, VS, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const L = new Locals(10);
  const [img, ty, tx, k, base, vt, q, pix2, pix3] = [L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int()];
  const r = [L.int(), L.int(), L.int(), L.int()];
  const d = [L.vec(), L.vec(), L.vec(), L.vec()];
  const t = Array.from({ length: 4 }, () => [L.vec(), L.vec(), L.vec(), L.vec()]);
  const out = L.vec();
  const fx = (v: number) => L.fix(v);
  const c = new Code();
  c.get(PIX).i32(2).mul().set(pix2);
  c.get(PIX).i32(3).mul().set(pix3);
  const colOffset = [0, PIX, pix2, pix3] as const;
  c.get(V).set(vt);
  forLoop(c, img, N, () => {
    forLoop(c, ty, TH, () => {
      forLoop(c, tx, TW, () => {
        // r_i = xp + img·imgBytes + (2ty + i)·rowBytes + 2tx·pixelBytes
        c.get(XP).get(img).get(IMG).mul().add().get(ty).get(ROW).mul().i32(1).shl().add().get(tx).get(pix2).mul().add().set(base);
        c.get(base).set(r[0]!);
        for (let i = 1; i < 4; i++) c.get(r[i - 1]!).get(ROW).add().set(r[i]!);
        forLoop(c, k, GROUPS, () => {
          for (let j = 0; j < 4; j++) {
            for (let i = 0; i < 4; i++) loadAt(c, r[i]!, colOffset[j]!).set(fx(d[i]!));
            // column j of Bᵀ d
            combine(c, fx(t[0]![j]!), [[fx(d[0]!), 1], [fx(d[2]!), -1]]);
            combine(c, fx(t[1]![j]!), [[fx(d[1]!), 1], [fx(d[2]!), 1]]);
            combine(c, fx(t[2]![j]!), [[fx(d[2]!), 1], [fx(d[1]!), -1]]);
            combine(c, fx(t[3]![j]!), [[fx(d[1]!), 1], [fx(d[3]!), -1]]);
          }
          c.get(vt).set(q);
          for (let i = 0; i < 4; i++) {
            const row = t[i]!.map(fx);
            const outs: [number, number][][] = [
              [[row[0]!, 1], [row[2]!, -1]],
              [[row[1]!, 1], [row[2]!, 1]],
              [[row[2]!, 1], [row[1]!, -1]],
              [[row[1]!, 1], [row[3]!, -1]],
            ];
            for (const terms of outs) {
              combine(c, fx(out), terms);
              c.get(q).get(fx(out)).v128Store();
              c.get(q).get(VS).add().set(q);
            }
          }
          for (let i = 0; i < 4; i++) c.inc(r[i]!, 16);
          c.inc(vt, 16);
        });
      });
    });
  });
  return { name: 'winoInput', params: new Array<ValType>(10).fill(I32), results: [], locals: L.decl(), body: c };
}

/**
 * The filter transform U[ξ] = (G g Gᵀ)[ξ] of an HWIO 3×3 filter g [3, 3, ci, co], written straight into the GEMM's B
 * panel layout (panels of `nr` columns, each [k rows][nr], plane ξ at up + ξ·planeBytes), so U is never stored
 * unpacked and re-read. Plain (forward): B[ξ] = U[ξ] as [k = ci, n = co]; the vector of four co values is one
 * store. Flipped (input gradient): B[ξ] = U[flip(ξ)]ᵀ as [k = co, n = ci], since U of the spatially flipped filter
 * is U with tile rows/columns 0 and 3 swapped; the four co values land in four panel rows (lane stores).
 * Params: g, ci, co, up, planeBytes. Pad columns of the last panel are not written (the caller zeroes them).
 */
function filterTransformPacked(nr: number, flipped: boolean): FunctionDef {
  const [G, CI, CO, UP, PLANE] = [0, 1, 2, 3, 4];
  const L = new Locals(5);
  const [r, k, gp, p, q, tap, dst, rowDst, inner, panelJump] = [L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int()];
  const g = Array.from({ length: 3 }, () => [L.vec(), L.vec(), L.vec()]);
  const s = Array.from({ length: 4 }, () => [L.vec(), L.vec(), L.vec()]);
  const out = L.vec();
  const fx = (v: number) => L.fix(v);
  const row = nr * 4; // bytes of one panel row
  const c = new Code();
  c.get(CI).get(CO).mul().i32(4).mul().set(tap);
  c.get(G).set(gp);
  // plain: a panel is [ci][nr]; crossing into the next panel jumps ci·row − row bytes further.
  if (!flipped) c.get(CI).i32(row).mul().i32(row).sub().set(panelJump);
  forLoop(c, r, CI, () => {
    if (!flipped) {
      // row r of panel 0
      c.get(UP).get(r).i32(row).mul().add().set(rowDst);
    } else {
      // column r: panel r / nr (each [co][nr]), lane r % nr
      c.get(UP).get(r).i32(nr).divU().get(CO).mul().i32(row).mul().add();
      c.get(r).get(r).i32(nr).divU().i32(nr).mul().sub().i32(4).mul().add().set(rowDst);
    }
    c.get(rowDst).set(dst);
    c.i32(0).set(inner);
    c.get(CO).i32(2).shrU().set(k);
    c.block().loop();
    c.get(k).eqz().brIf(1);
    c.get(gp).set(p);
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) {
        c.get(p).v128Load().set(fx(g[a]![b]!));
        c.get(p).get(tap).add().set(p);
      }
    for (let j = 0; j < 3; j++) {
      const [g0, g1, g2] = [fx(g[0]![j]!), fx(g[1]![j]!), fx(g[2]![j]!)];
      combine(c, fx(s[0]![j]!), [[g0, 1]]);
      combine(c, fx(s[1]![j]!), [[g0, 1], [g1, 1], [g2, 1]], 0.5);
      combine(c, fx(s[2]![j]!), [[g0, 1], [g1, -1], [g2, 1]], 0.5);
      combine(c, fx(s[3]![j]!), [[g2, 1]]);
    }
    for (let i = 0; i < 4; i++) {
      const [s0, s1, s2] = [fx(s[i]![0]!), fx(s[i]![1]!), fx(s[i]![2]!)];
      const outs: { terms: [number, number][]; scale?: number }[] = [
        { terms: [[s0, 1]] },
        { terms: [[s0, 1], [s1, 1], [s2, 1]], scale: 0.5 },
        { terms: [[s0, 1], [s1, -1], [s2, 1]], scale: 0.5 },
        { terms: [[s2, 1]] },
      ];
      for (let j = 0; j < 4; j++) {
        const o = outs[j]!;
        combine(c, fx(out), o.terms, o.scale);
        const plane = flipped ? FLIP[i]! * 4 + FLIP[j]! : 4 * i + j;
        // q = dst + plane·planeBytes
        c.get(dst).get(PLANE).i32(plane).mul().add().set(q);
        if (!flipped) c.get(q).get(fx(out)).v128Store();
        else for (let lane = 0; lane < 4; lane++) c.get(q).get(fx(out)).f32x4ExtractLane(lane).f32Store(lane * row);
      }
    }
    c.inc(gp, 16);
    if (!flipped) {
      // four columns further in the panel row; after nr of them, the same row of the next panel
      c.inc(dst, 16).inc(inner, 4);
      c.get(inner).i32(nr).eq().if_().i32(0).set(inner).get(dst).get(panelJump).add().set(dst).end();
    } else {
      c.inc(dst, 4 * row);
    }
    c.get(k).i32(1).sub().set(k);
    c.br(0).end().end();
  });
  return { name: flipped ? 'winoFilterPackedFlipped' : 'winoFilterPacked', params: new Array<ValType>(5).fill(I32), results: [], locals: L.decl(), body: c };
}

/** Tile row/column of U for the spatially flipped filter: G·J = P·G with P swapping rows 0 and 3. */
export const FLIP = [3, 1, 2, 0] as const;

/**
 * winoOutput(m, mStride, mRowBytes, y, imgBytes, yRowBytes, pixelBytes, n, th, tw, groups): the 2×2 output tile
 * Aᵀ M A of every tile t from the product planes M[ξ] (row t at m + t·mRowBytes, planes mStride apart) into y
 * [n, 2·th, 2·tw, co] (NHWC, `groups`·4 channels).
 */
function outputTransform(): FunctionDef {
  const [M, MS, MROW, Y, IMG, YROW, PIX, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const L = new Locals(11);
  const [img, ty, tx, k, mt, mp, q, yp, yRow2, pix2] = [L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int()];
  const m = Array.from({ length: 4 }, () => [L.vec(), L.vec(), L.vec(), L.vec()]);
  const rr = Array.from({ length: 2 }, () => [L.vec(), L.vec(), L.vec(), L.vec()]);
  const out = L.vec();
  const fx = (v: number) => L.fix(v);
  const c = new Code();
  c.get(YROW).i32(1).shl().set(yRow2);
  c.get(PIX).i32(1).shl().set(pix2);
  c.get(M).set(mt);
  forLoop(c, img, N, () => {
    forLoop(c, ty, TH, () => {
      forLoop(c, tx, TW, () => {
        c.get(mt).set(mp);
        c.get(Y).get(img).get(IMG).mul().add().get(ty).get(yRow2).mul().add().get(tx).get(pix2).mul().add().set(yp);
        forLoop(c, k, GROUPS, () => {
          c.get(mp).set(q);
          for (let i = 0; i < 4; i++)
            for (let j = 0; j < 4; j++) {
              c.get(q).v128Load().set(fx(m[i]![j]!));
              c.get(q).get(MS).add().set(q);
            }
          // rr = Aᵀ m (2×4)
          for (let j = 0; j < 4; j++) {
            combine(c, fx(rr[0]![j]!), [[fx(m[0]![j]!), 1], [fx(m[1]![j]!), 1], [fx(m[2]![j]!), 1]]);
            combine(c, fx(rr[1]![j]!), [[fx(m[1]![j]!), 1], [fx(m[2]![j]!), -1], [fx(m[3]![j]!), -1]]);
          }
          // y = rr A (2×2), stored at (2ty + i, 2tx + j)
          for (let i = 0; i < 2; i++) {
            const row = rr[i]!.map(fx);
            combine(c, fx(out), [[row[0]!, 1], [row[1]!, 1], [row[2]!, 1]]);
            c.get(yp);
            if (i) c.get(YROW).add();
            c.get(fx(out)).v128Store();
            combine(c, fx(out), [[row[1]!, 1], [row[2]!, -1], [row[3]!, -1]]);
            c.get(yp).get(PIX).add();
            if (i) c.get(YROW).add();
            c.get(fx(out)).v128Store();
          }
          c.inc(mp, 16).inc(yp, 16);
        });
        c.get(mt).get(MROW).add().set(mt);
      });
    });
  });
  return { name: 'winoOutput', params: new Array<ValType>(11).fill(I32), results: [], locals: L.decl(), body: c };
}

/**
 * winoOutputGrad(dy, imgBytes, yRowBytes, pixelBytes, dm, dmStride, n, th, tw, groups): dM[ξ][t][c] = (A dy Aᵀ)[ξ]
 * for every 2×2 tile of dy [n, 2·th, 2·tw, co] (zero-padded to whole tiles); dM rows are `groups`·4 floats,
 * planes dmStride apart.
 */
function outputGradTransform(): FunctionDef {
  const [DY, IMG, YROW, PIX, DM, DS, N, TH, TW, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const L = new Locals(10);
  const [img, ty, tx, k, yp, dp, q, yRow2, pix2] = [L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int(), L.int()];
  const dy = [
    [L.vec(), L.vec()],
    [L.vec(), L.vec()],
  ];
  const qq = Array.from({ length: 4 }, () => [L.vec(), L.vec()]);
  const out = L.vec();
  const fx = (v: number) => L.fix(v);
  const c = new Code();
  c.get(YROW).i32(1).shl().set(yRow2);
  c.get(PIX).i32(1).shl().set(pix2);
  c.get(DM).set(dp);
  forLoop(c, img, N, () => {
    forLoop(c, ty, TH, () => {
      forLoop(c, tx, TW, () => {
        c.get(DY).get(img).get(IMG).mul().add().get(ty).get(yRow2).mul().add().get(tx).get(pix2).mul().add().set(yp);
        forLoop(c, k, GROUPS, () => {
          c.get(yp).v128Load().set(fx(dy[0]![0]!));
          c.get(yp).get(PIX).add().v128Load().set(fx(dy[0]![1]!));
          c.get(yp).get(YROW).add().v128Load().set(fx(dy[1]![0]!));
          c.get(yp).get(YROW).add().get(PIX).add().v128Load().set(fx(dy[1]![1]!));
          // qq = A dy (4×2)
          for (let j = 0; j < 2; j++) {
            const [a, b] = [fx(dy[0]![j]!), fx(dy[1]![j]!)];
            combine(c, fx(qq[0]![j]!), [[a, 1]]);
            combine(c, fx(qq[1]![j]!), [[a, 1], [b, 1]]);
            combine(c, fx(qq[2]![j]!), [[a, 1], [b, -1]]);
            combine(c, fx(qq[3]![j]!), [[b, -1]]);
          }
          // dM = qq Aᵀ (4×4)
          c.get(dp).set(q);
          for (let i = 0; i < 4; i++) {
            const [a, b] = [fx(qq[i]![0]!), fx(qq[i]![1]!)];
            const outs: [number, number][][] = [[[a, 1]], [[a, 1], [b, 1]], [[a, 1], [b, -1]], [[b, -1]]];
            for (const terms of outs) {
              combine(c, fx(out), terms);
              c.get(q).get(fx(out)).v128Store();
              c.get(q).get(DS).add().set(q);
            }
          }
          c.inc(yp, 16).inc(dp, 16);
        });
      });
    });
  });
  return { name: 'winoOutputGrad', params: new Array<ValType>(10).fill(I32), results: [], locals: L.decl(), body: c };
}

/**
 * winoFilterGrad(du, duStride, duRowBytes, ci, groups, dw, tapBytes): dg = Gᵀ dU G into the HWIO filter gradient dw
 * [3, 3, ci, co] (taps tapBytes apart), from the product planes dU[ξ] ([ci rows, `groups`·4 used columns], row
 * stride duRowBytes, planes duStride apart).
 */
function filterGradTransform(): FunctionDef {
  const [DU, DS, DROW, CI, GROUPS, DW, TAP] = [0, 1, 2, 3, 4, 5, 6];
  const L = new Locals(7);
  const [r, k, rowStart, up, wp, q] = [L.int(), L.int(), L.int(), L.int(), L.int(), L.int()];
  const u = Array.from({ length: 4 }, () => [L.vec(), L.vec(), L.vec(), L.vec()]);
  const p = Array.from({ length: 3 }, () => [L.vec(), L.vec(), L.vec(), L.vec()]);
  const out = L.vec();
  const fx = (v: number) => L.fix(v);
  const c = new Code();
  c.get(DU).set(rowStart).get(DW).set(wp);
  forLoop(c, r, CI, () => {
    c.get(rowStart).set(up);
    forLoop(c, k, GROUPS, () => {
      c.get(up).set(q);
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          c.get(q).v128Load().set(fx(u[i]![j]!));
          c.get(q).get(DS).add().set(q);
        }
      // p = Gᵀ dU (3×4)
      for (let j = 0; j < 4; j++) {
        const [u0, u1, u2, u3] = [0, 1, 2, 3].map((i) => fx(u[i]![j]!)) as [number, number, number, number];
        combine(c, fx(out), [[u1, 1], [u2, 1]], 0.5);
        c.get(u0).get(fx(out)).f32x4Add().set(fx(p[0]![j]!));
        c.get(fx(out)).get(u3).f32x4Add().set(fx(p[2]![j]!));
        combine(c, fx(p[1]![j]!), [[u1, 1], [u2, -1]], 0.5);
      }
      // dg = p G (3×3), tap (a, b) at wp + (3a + b)·tapBytes
      c.get(wp).set(q);
      for (let a = 0; a < 3; a++) {
        const [p0, p1, p2, p3] = [0, 1, 2, 3].map((j) => fx(p[a]![j]!)) as [number, number, number, number];
        const half = fx(u[0]![0]!); // u is free again: reuse a register for ½(p1 + p2)
        combine(c, half, [[p1, 1], [p2, 1]], 0.5);
        c.get(q).get(p0).get(half).f32x4Add().v128Store();
        c.get(q).get(TAP).add().set(q);
        combine(c, fx(out), [[p1, 1], [p2, -1]], 0.5);
        c.get(q).get(fx(out)).v128Store();
        c.get(q).get(TAP).add().set(q);
        c.get(q).get(half).get(p3).f32x4Add().v128Store();
        c.get(q).get(TAP).add().set(q);
      }
      c.inc(up, 16).inc(wp, 16);
    });
    c.get(rowStart).get(DROW).add().set(rowStart);
  });
  return { name: 'winoFilterGrad', params: new Array<ValType>(7).fill(I32), results: [], locals: L.decl(), body: c };
}

/** The transforms, for `SimdGemm.create({ extra })`; `nr` is the GEMM's panel width. */
export function winogradFunctions(nr: number): FunctionDef[] {
  return [inputTransform(), filterTransformPacked(nr, false), filterTransformPacked(nr, true), outputTransform(), outputGradTransform(), filterGradTransform()];
}

export interface WinogradExports {
  winoInput(xp: number, imgBytes: number, rowBytes: number, pixelBytes: number, v: number, vStride: number, n: number, th: number, tw: number, groups: number): void;
  winoFilterPacked(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  winoFilterPackedFlipped(g: number, ci: number, co: number, up: number, planeBytes: number): void;
  winoOutput(m: number, mStride: number, mRowBytes: number, y: number, imgBytes: number, yRowBytes: number, pixelBytes: number, n: number, th: number, tw: number, groups: number): void;
  winoOutputGrad(dy: number, imgBytes: number, yRowBytes: number, pixelBytes: number, dm: number, dmStride: number, n: number, th: number, tw: number, groups: number): void;
  winoFilterGrad(du: number, duStride: number, duRowBytes: number, ci: number, groups: number, dw: number, tapBytes: number): void;
}
