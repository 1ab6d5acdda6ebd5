/**
 * A float32 GEMM for wasm SIMD, written as a register-tiled micro-kernel (mr rows × nr columns) over packed
 * operands. Why our own: XNNPACK inside tfjs-backend-wasm 4.22 is built without relaxed SIMD, so it multiplies
 * and adds separately (≈ 25 GF/s per core here); with `f32x4.relaxed_madd` V8 emits vfmadd231ps and this kernel
 * reaches ≈ 39 GF/s (the FMA peak of one core here is ≈ 48). Where relaxed SIMD is missing we build the same
 * kernel with mul + add (slower than XNNPACK; callers that care should check `fma`).
 *
 * Operand layouts (both padded with zeros, so the kernel has no edge cases):
 * - A "row blocks": rows grouped by mr, each block [kp][mr] (the mr values of one k are adjacent);
 * - B "column panels": columns grouped by nr, each panel [kp][nr];
 * - kp = k rounded up to the unroll factor.
 * C is row-major with a caller-chosen row stride; the kernel writes blocks·MR rows × panels·8 columns.
 */
import v8 from 'node:v8';
import { buildModule, Code, F32, type FunctionDef, I32, instantiate, V128, type WasmMemory, wasmApi } from './wasm-builder.js';

const PAGE = 65536;
const MAX_MEMORY_BYTES = 2 ** 31 - PAGE;

/** Local indices and emitters shared by both kernel variants (`tileKernel`). */
interface Tile {
  mr: number;
  nrv: number;
  fma: boolean;
  acc: (r: number, h: number) => number;
  bv: (h: number) => number;
  av: number;
}

/** acc(r, ·) += av · bv(·) for one row of the tile (relaxed_madd, or mul + add without FMA). */
function emitRowFma(c: Code, t: Tile, r: number): void {
  for (let h = 0; h < t.nrv; h++) {
    if (t.fma) c.get(t.av).get(t.bv(h)).get(t.acc(r, h)).f32x4RelaxedMadd().set(t.acc(r, h));
    else c.get(t.acc(r, h)).get(t.av).get(t.bv(h)).f32x4Mul().f32x4Add().set(t.acc(r, h));
  }
}

/**
 * One k step of a tile whose A rows are read through per-row pointers (gemmRows, igemm): the B vectors at `bp`, then
 * per row a splat of the float at its pointer and its FMAs; every row pointer advances one float, `bp` one panel row.
 */
function emitRowPointerStep(c: Code, t: Tile, rowPtr: (r: number) => number, bp: number): void {
  for (let h = 0; h < t.nrv; h++) c.get(bp).v128Load(4 * h * 4).set(t.bv(h));
  for (let r = 0; r < t.mr; r++) {
    c.get(rowPtr(r)).v128Load32Splat(0).set(t.av);
    emitRowFma(c, t, r);
    c.inc(rowPtr(r), 4);
  }
  c.inc(bp, 4 * t.nrv * 4);
}

/**
 * A kernel function over panels (outer) × row blocks (inner): per (panel, block) `setup` sets the A/B pointers, the
 * accumulators start at zero, `kLoop` runs the k loop, and the mr × nr tile is stored to C at row blk·mr, column
 * p·nr. Params and i32 locals come first (`params` + `i32Locals` of them, p/blk/cp among the locals), then the
 * tile's v128 locals.
 */
function tileKernel(
  name: string,
  t: { mr: number; nrv: number; fma: boolean },
  layout: { params: number; i32Locals: number; PANELS: number; BLOCKS: number; C: number; LDC: number; p: number; blk: number; cp: number },
  emit: { prologue: (c: Code) => void; setup: (c: Code) => void; kLoop: (c: Code, tile: Tile) => void },
  accumulate = false,
): FunctionDef {
  const { mr, nrv } = t;
  const nr = 4 * nrv;
  const v0 = layout.params + layout.i32Locals;
  const tile: Tile = { ...t, acc: (r, h) => v0 + nrv * r + h, bv: (h) => v0 + nrv * mr + h, av: v0 + nrv * mr + nrv };
  const { PANELS, BLOCKS, C, LDC, p, blk, cp } = layout;
  const c = new Code();
  emit.prologue(c);
  c.i32(0).set(p);
  c.block().loop(); // panels
  c.get(p).get(PANELS).ltU().eqz().brIf(1);
  c.i32(0).set(blk);
  c.block().loop(); // row blocks
  c.get(blk).get(BLOCKS).ltU().eqz().brIf(1);
  emit.setup(c);
  for (let r = 0; r < mr; r++) for (let h = 0; h < nrv; h++) c.v128Zero().set(tile.acc(r, h));
  emit.kLoop(c, tile);
  // store: row (blk·mr + r), columns p·nr .. p·nr + nr − 1
  c.get(C).get(blk).i32(mr).mul().get(LDC).mul().add().get(p).i32(nr * 4).mul().add().set(cp);
  for (let r = 0; r < mr; r++) {
    for (let h = 0; h < nrv; h++) {
      c.get(cp);
      // accumulate: C += tile (a later k block of the same product)
      if (accumulate) c.get(cp).v128Load(16 * h).get(tile.acc(r, h)).f32x4Add();
      else c.get(tile.acc(r, h));
      c.v128Store(16 * h);
    }
    if (r < mr - 1) c.get(cp).get(LDC).add().set(cp);
  }
  c.inc(blk, 1).br(0).end().end();
  c.inc(p, 1).br(0).end().end();
  return {
    name,
    params: new Array<typeof I32>(layout.params).fill(I32),
    results: [],
    locals: [...new Array<typeof I32>(layout.i32Locals).fill(I32), ...new Array<typeof V128>(nrv * mr + nrv + 1).fill(V128)],
    body: c,
  };
}

/**
 * gemm(a, blocks, b, panels, kp, c, ldcBytes): the mr × (4·nrv) tile over packed A row blocks and B panels;
 * `accumulate` (gemmAcc) adds the tile to C instead of storing it.
 */
function gemmFunction(mr: number, nrv: number, fma: boolean, U: number, accumulate = false): FunctionDef {
  const nr = 4 * nrv;
  const [A, BLOCKS, B, PANELS, KP, C, LDC] = [0, 1, 2, 3, 4, 5, 6];
  const [p, blk, ap, bp, kk, cp, aStride, bStride] = [7, 8, 9, 10, 11, 12, 13, 14];
  return tileKernel(accumulate ? 'gemmAcc' : 'gemm', { mr, nrv, fma }, { params: 7, i32Locals: 8, PANELS, BLOCKS, C, LDC, p, blk, cp }, {
    // aStride = kp·mr·4 bytes per A block, bStride = kp·nr·4 per B panel
    prologue: (c) => c.get(KP).i32(mr * 4).mul().set(aStride).get(KP).i32(nr * 4).mul().set(bStride),
    setup: (c) => c.get(A).get(blk).get(aStride).mul().add().set(ap).get(B).get(p).get(bStride).mul().add().set(bp),
    kLoop: (c, t) => {
      c.get(KP).i32(U).divU().set(kk); // kp is a positive multiple of U (packing pads)
      c.loop();
      for (let u = 0; u < U; u++) {
        for (let h = 0; h < nrv; h++) c.get(bp).v128Load((u * nr + 4 * h) * 4).set(t.bv(h));
        for (let r = 0; r < mr; r++) {
          c.get(ap).v128Load32Splat((u * mr + r) * 4).set(t.av);
          emitRowFma(c, t, r);
        }
      }
      c.inc(ap, U * mr * 4).inc(bp, U * nr * 4);
      c.get(kk).i32(1).sub().tee(kk).brIf(0);
      c.end();
    },
  }, accumulate);
}

/**
 * gemmRows(a, ldaBytes, blocks, b, panels, k, c, ldcBytes): the same register tile with A read in place, row-major
 * (row i at a + i·lda, `blocks`·mr rows, k floats each), against packed B panels. The mr values of one k come from
 * mr row pointers instead of one packed block, so A needs no packing (a strided scalar gather, ~10 % of a conv
 * step's product time): for A that is already row-major, copying it into this memory is a plain memcpy.
 */
function gemmRowsFunction(mr: number, nrv: number, fma: boolean, accumulate = false): FunctionDef {
  const nr = 4 * nrv;
  const [A, LDA, BLOCKS, B, PANELS, K, C, LDC] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [p, blk, bp, kk, cp, bStride] = [8, 9, 10, 11, 12, 13];
  const rowPtr = (r: number) => 14 + r;
  return tileKernel(accumulate ? 'gemmRowsAcc' : 'gemmRows', { mr, nrv, fma }, { params: 8, i32Locals: 6 + mr, PANELS, BLOCKS, C, LDC, p, blk, cp }, {
    prologue: (c) => c.get(K).i32(nr * 4).mul().set(bStride),
    setup: (c) => {
      c.get(A).get(blk).i32(mr).mul().get(LDA).mul().add().set(rowPtr(0));
      for (let r = 1; r < mr; r++) c.get(rowPtr(r - 1)).get(LDA).add().set(rowPtr(r));
      c.get(B).get(p).get(bStride).mul().add().set(bp);
    },
    kLoop: (c, t) => {
      c.get(K).set(kk);
      c.loop();
      emitRowPointerStep(c, t, rowPtr, bp);
      c.get(kk).i32(1).sub().tee(kk).brIf(0);
      c.end();
    },
  }, accumulate);
}

/**
 * igemm(ind, blocks, b, panels, taps, ci, c, ldcBytes): an implicit-patch convolution with the same register tile.
 * Row r of block blk reads, for each filter tap, `ci` contiguous floats from the byte address ind[(blk·taps + tap)·mr
 * + r] (an input pixel, or a zero row where the tap falls in the padding), against B packed as panels with
 * k = taps·ci (the HWIO filter as [kh·kw·ci, co]). No patch matrix is written: the k loop reloads mr pointers per tap.
 */
function igemmFunction(mr: number, nrv: number, fma: boolean): FunctionDef {
  const nr = 4 * nrv;
  const [IND, BLOCKS, B, PANELS, TAPS, CI, C, LDC] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [p, blk, bp, ip, tap, cc, cp, bStride] = [8, 9, 10, 11, 12, 13, 14, 15];
  const rowPtr = (r: number) => 16 + r;
  return tileKernel('igemm', { mr, nrv, fma }, { params: 8, i32Locals: 8 + mr, PANELS, BLOCKS, C, LDC, p, blk, cp }, {
    prologue: (c) => c.get(TAPS).get(CI).mul().i32(nr * 4).mul().set(bStride),
    setup: (c) => c.get(B).get(p).get(bStride).mul().add().set(bp).get(IND).get(blk).get(TAPS).mul().i32(mr * 4).mul().add().set(ip),
    kLoop: (c, t) => {
      c.get(TAPS).set(tap);
      c.loop(); // taps
      for (let r = 0; r < mr; r++) c.get(ip).i32Load(r * 4).set(rowPtr(r));
      c.inc(ip, mr * 4);
      c.get(CI).set(cc);
      c.loop(); // input channels
      emitRowPointerStep(c, t, rowPtr, bp);
      c.get(cc).i32(1).sub().tee(cc).brIf(0);
      c.end();
      c.get(tap).i32(1).sub().tee(tap).brIf(0);
      c.end();
    },
  });
}

/** Rows of A that `packCols` walks per pass (their lines stay in L1 while every block takes its mr columns). */
const PACK_COLS_ROWS = 64;

/**
 * packCols(src, items, k, ldaBytes, dst, kp): op(A) = Aᵀ for a row-major A [k, ≥ items] (row j at src + j·lda), packed
 * as row blocks (`items` rows of op(A), mr per block, [kp][mr] each; zeros past `items`; rows k..kp untouched). It
 * runs over A in bands of PACK_COLS_ROWS rows, each block taking its mr columns of the band: `pack` walks down a
 * whole column strip per block instead (one cache line per k for mr floats, every line fetched again for the next
 * block), and on tall operands that cost ~40 % of the product (a 4096×1152 Aᵀ·B: 49 ms against 32 with A row-major).
 */
function packColsFunction(mr: number): FunctionDef {
  const [SRC, ITEMS, K, LDA, DST, KP] = [0, 1, 2, 3, 4, 5];
  const [j0, jEnd, j, g, gSrc, gOut, rowSrc, out, full, rem, blockBytes] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const c = new Code();
  /** Copies rows j0..jEnd of the mr columns at gSrc into the block rows at gOut (`partial`: only the first rem). */
  const band = (partial: boolean) => {
    c.get(gSrc).set(rowSrc).get(gOut).set(out).get(j0).set(j);
    c.block().loop();
    c.get(j).get(jEnd).ltU().eqz().brIf(1);
    for (let t = 0; t < mr; t++) {
      c.get(out);
      if (partial) c.get(rem).i32(t).gtS().if_(F32).get(rowSrc).f32Load(t * 4).else_().f32(0).end();
      else c.get(rowSrc).f32Load(t * 4);
      c.f32Store(t * 4);
    }
    c.get(rowSrc).get(LDA).add().set(rowSrc);
    c.inc(out, mr * 4).inc(j, 1).br(0).end().end();
  };
  c.get(ITEMS).i32(mr).divU().set(full);
  c.get(ITEMS).get(full).i32(mr).mul().sub().set(rem);
  c.get(KP).i32(mr * 4).mul().set(blockBytes);
  c.i32(0).set(j0);
  c.block().loop();
  c.get(j0).get(K).ltU().eqz().brIf(1);
  c.get(j0).i32(PACK_COLS_ROWS).add().set(jEnd);
  c.get(jEnd).get(K).gtS().if_().get(K).set(jEnd).end();
  c.get(SRC).get(j0).get(LDA).mul().add().set(gSrc);
  c.get(DST).get(j0).i32(mr * 4).mul().add().set(gOut);
  c.i32(0).set(g);
  c.block().loop();
  c.get(g).get(full).ltU().eqz().brIf(1);
  band(false);
  c.inc(gSrc, mr * 4);
  c.get(gOut).get(blockBytes).add().set(gOut);
  c.inc(g, 1).br(0).end().end();
  c.get(rem).if_();
  band(true);
  c.end();
  c.get(j0).i32(PACK_COLS_ROWS).add().set(j0).br(0).end().end();
  return { name: 'packCols', params: new Array(6).fill(I32), results: [], locals: new Array(11).fill(I32), body: c };
}

/**
 * pack(src, items, k, itemStrideBytes, kStrideBytes, dst, group, kp): item i, element j at
 * src + i·itemStride + j·kStride → dst in groups of `group` items, each [kp][group], zeros where i ≥ items or j ≥ k.
 * Scalar loads, but in wasm and with sequential writes: ~5× faster than the same loop in JavaScript.
 */
function packFunction(): FunctionDef {
  const [SRC, ITEMS, K, IS, KS, DST, GROUP, KP] = [0, 1, 2, 3, 4, 5, 6, 7];
  const g0 = 8; // first item of the group
  const j = 9;
  const t = 10;
  const rowSrc = 11; // src + g0·itemStride + j·kStride
  const out = 12;
  const full = 13; // the whole group lies inside `items`
  const vec = 14; // items are adjacent (itemStride 4 bytes) and the group is a multiple of 4: copy by v128
  const c = new Code();
  c.get(DST).set(out);
  c.get(IS).i32(4).eq().get(GROUP).i32(3).and().eqz().and().set(vec);
  c.i32(0).set(g0);
  c.block().loop();
  c.get(g0).get(ITEMS).ltU().eqz().brIf(1);
  c.get(g0).get(GROUP).add().get(ITEMS).leU().set(full);
  c.i32(0).set(j);
  c.block().loop();
  c.get(j).get(KP).ltU().eqz().brIf(1);
  c.get(SRC).get(j).get(KS).mul().add().get(g0).get(IS).mul().add().set(rowSrc);
  c.i32(0).set(t);
  c.get(full).get(j).get(K).ltU().and().if_();
    c.get(vec).if_();
    // group/4 vector copies
    c.block().loop();
    c.get(t).get(GROUP).ltU().eqz().brIf(1);
    c.get(out).get(rowSrc).get(t).i32(4).mul().add().v128Load().v128Store();
    c.inc(out, 16).inc(t, 4).br(0).end().end();
    c.else_();
    c.block().loop();
    c.get(t).get(GROUP).ltU().eqz().brIf(1);
    c.get(out).get(rowSrc).f32Load().f32Store();
    c.get(rowSrc).get(IS).add().set(rowSrc);
    c.inc(out, 4).inc(t, 1).br(0).end().end();
    c.end();
  c.else_();
    // edge: zeros where the item or k is out of range
    c.block().loop();
    c.get(t).get(GROUP).ltU().eqz().brIf(1);
    c.get(out);
    c.get(j).get(K).ltU().get(g0).get(t).add().get(ITEMS).ltU().and();
    c.if_(F32).get(rowSrc).get(t).get(IS).mul().add().f32Load().else_().f32(0).end();
    c.f32Store();
    c.inc(out, 4).inc(t, 1).br(0).end().end();
  c.end();
  c.inc(j, 1).br(0).end().end();
  c.get(g0).get(GROUP).add().set(g0).br(0).end().end();
  return { name: 'pack', params: new Array(8).fill(I32), results: [], locals: new Array(7).fill(I32), body: c };
}

let relaxedChecked: boolean | null = null;

/**
 * Whether this V8 accepts relaxed SIMD. Node ≥ 22 has it on; Node 20 (V8 11.3) has it behind
 * --experimental-wasm-relaxed-simd, which V8 reads at compile time, so setting it here is enough.
 */
export function relaxedSimdAvailable(): boolean {
  if (relaxedChecked !== null) return relaxedChecked;
  const probe = buildModule([{ name: 'f', params: [V128, V128, V128], results: [V128], locals: [], body: new Code().get(0).get(1).get(2).f32x4RelaxedMadd() }], 1);
  if (!wasmApi.validate(probe)) {
    try {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // a runtime without the flag: fall back to mul + add
    }
  }
  relaxedChecked = wasmApi.validate(probe);
  return relaxedChecked;
}

export interface SimdGemmOptions {
  /** Rows of the register tile (default 3). */
  mr?: number;
  /** Columns of the register tile in 4-float vectors (nr = 4·nrv, default 12). mr·nrv + nrv + 1 must stay ≤ 15 (xmm registers). */
  nrv?: number;
  /**
   * k unrolling inside the kernel; operands are padded to a multiple of it. Default 1: V8's TurboFan schedules every
   * load of an unrolled body first, which spills the accumulators (measured here: 4×8 tile 39 GF/s unrolled ×1,
   * 28 GF/s ×2, 29 GF/s ×4, against 25 GF/s for tfjs-backend-wasm's XNNPACK matMul in the same run).
   */
  unroll?: number;
  /** Use relaxed_madd when available (default true). */
  fma?: boolean;
  /**
   * More functions compiled into the same module, so they work on the same memory (e.g. a pass over C that
   * runs right after the multiply). Reach them with `exported(name)`.
   */
  extra?: FunctionDef[] | ((tile: { mr: number; nr: number }) => FunctionDef[]);
}

/** Validated tile shape and FMA choice of SimdGemmOptions. */
function tileOptions(options: Omit<SimdGemmOptions, 'extra'>): { mr: number; nrv: number; unroll: number; fma: boolean } {
  // 3 × 12 measured ~4 % faster than 4 × 8 here (39.6 vs 38.3 GF/s, same run); 5 × 8 and 6 × 8 spill.
  const mr = options.mr ?? 3;
  const nrv = options.nrv ?? 3;
  const unroll = options.unroll ?? 1;
  if (!Number.isInteger(mr) || !Number.isInteger(nrv) || mr < 1 || nrv < 1 || mr * nrv + nrv + 1 > 15)
    throw new RangeError(`SimdGemm: an ${mr}×${nrv} register tile needs ${mr * nrv + nrv + 1} vector registers; at most 15 are free`);
  if (!Number.isInteger(unroll) || unroll < 1 || unroll > 16) throw new RangeError(`SimdGemm: unroll must be in 1..16, got ${unroll}`);
  return { mr, nrv, unroll, fma: (options.fma ?? true) && relaxedSimdAvailable() };
}

/**
 * One kernel instance with its own linear memory. Not thread-safe: use one per worker thread.
 * Pointers are byte offsets into `memory`; `alloc` hands out 16-byte aligned regions and grows the memory.
 */
export class SimdGemm {
  readonly mr: number;
  readonly nr: number;
  readonly unroll: number;
  readonly fma: boolean;
  readonly memory: WasmMemory;
  private readonly gemmFn: (a: number, blocks: number, b: number, panels: number, kp: number, c: number, ldcBytes: number) => void;
  private readonly gemmRowsFn: (a: number, ldaBytes: number, blocks: number, b: number, panels: number, k: number, c: number, ldcBytes: number) => void;
  private readonly gemmAccFn: SimdGemm['gemmFn'];
  private readonly gemmRowsAccFn: SimdGemm['gemmRowsFn'];
  private readonly igemmFn: (ind: number, blocks: number, b: number, panels: number, taps: number, ci: number, c: number, ldcBytes: number) => void;
  private readonly packColsFn: (src: number, items: number, k: number, ldaBytes: number, dst: number, kp: number) => void;
  private readonly exports: Record<string, unknown>;
  private readonly packFn: (src: number, items: number, k: number, itemStride: number, kStride: number, dst: number, group: number, kp: number) => void;
  private top = 64;
  private view: Float32Array;

  private constructor(mr: number, nr: number, unroll: number, fma: boolean, exports: Record<string, unknown>, memory: WasmMemory) {
    this.mr = mr;
    this.nr = nr;
    this.unroll = unroll;
    this.fma = fma;
    this.memory = memory;
    this.gemmFn = exports.gemm as SimdGemm['gemmFn'];
    this.gemmRowsFn = exports.gemmRows as SimdGemm['gemmRowsFn'];
    this.gemmAccFn = exports.gemmAcc as SimdGemm['gemmFn'];
    this.gemmRowsAccFn = exports.gemmRowsAcc as SimdGemm['gemmRowsFn'];
    this.packColsFn = exports.packCols as SimdGemm['packColsFn'];
    this.igemmFn = exports.igemm as SimdGemm['igemmFn'];
    this.packFn = exports.pack as SimdGemm['packFn'];
    this.exports = exports;
    this.view = new Float32Array(memory.buffer);
  }

  static create(options: SimdGemmOptions = {}): SimdGemm {
    const { mr, nrv, unroll, fma } = tileOptions(options);
    const memory = new wasmApi.Memory({ initial: 16 });
    const extra = typeof options.extra === 'function' ? options.extra({ mr, nr: 4 * nrv }) : (options.extra ?? []);
    const module = buildModule(
      [
        gemmFunction(mr, nrv, fma, unroll),
        gemmFunction(mr, nrv, fma, unroll, true),
        packFunction(),
        gemmRowsFunction(mr, nrv, fma),
        gemmRowsFunction(mr, nrv, fma, true),
        packColsFunction(mr),
        igemmFunction(mr, nrv, fma),
        ...extra,
      ],
      1,
    );
    return new SimdGemm(mr, 4 * nrv, unroll, fma, instantiate(module, memory), memory);
  }

  /** A function passed in `extra`. */
  exported<F extends (...args: number[]) => number | undefined>(name: string): F {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`SimdGemm: no exported function '${name}'`);
    return f as F;
  }

  /** A Float32Array over the whole memory (re-created after growth; do not keep it across `alloc`). */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  alloc(bytes: number): number {
    const ptr = this.top;
    const top = Math.ceil((ptr + bytes) / 16) * 16;
    // Byte offsets are turned into array indices with `>> 2` and passed to wasm as i32: keep them below 2³¹.
    if (top > MAX_MEMORY_BYTES) throw new RangeError(`SimdGemm: ${top} bytes of operands exceed the kernel's ${MAX_MEMORY_BYTES}-byte memory; use smaller blocks`);
    this.top = top;
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / PAGE));
    return ptr;
  }

  /** Frees everything allocated since `mark` (a value of `mark()`); regions are a stack. */
  mark(): number {
    return this.top;
  }
  release(mark: number): void {
    this.top = mark;
  }

  /** kp for a given k. */
  paddedK(k: number): number {
    return Math.max(this.unroll, Math.ceil(k / this.unroll) * this.unroll);
  }

  /** Bytes of `rows` rows packed as A row blocks. */
  rowBlocksBytes(rows: number, k: number): number {
    return Math.ceil(rows / this.mr) * this.mr * this.paddedK(k) * 4;
  }

  /** Bytes of `cols` columns packed as B panels. */
  panelsBytes(cols: number, k: number): number {
    return Math.ceil(cols / this.nr) * this.nr * this.paddedK(k) * 4;
  }

  /** Packs rows [r0, r0+rows) of row-major `src` ([*, k]) as A row blocks at `ptr`. */
  packRowBlocks(src: Float32Array, r0: number, rows: number, k: number, ptr: number): void {
    this.packStrided(src, r0 * k, rows, k, k, 1, ptr, this.mr);
  }

  /** Packs rows [c0, c0+cols) of row-major `src` ([*, k]) as B column panels at `ptr` (they become C's columns). */
  packPanels(src: Float32Array, c0: number, cols: number, k: number, ptr: number): void {
    this.packStrided(src, c0 * k, cols, k, k, 1, ptr, this.nr);
  }

  /**
   * Packs a strided matrix — item i (a row of A, or a column of B), element j at src[offset + i·itemStride +
   * j·kStride] — in groups of `group` items (mr for A row blocks, nr for B panels), each group [kp][group], zero
   * padded. Either stride may be 1, so transposed operands are packed without a separate transpose.
   */
  packStrided(src: Float32Array, offset: number, items: number, k: number, itemStride: number, kStride: number, ptr: number, group: number): void {
    if (items <= 0 || k <= 0) return;
    // The source may live in another wasm memory (tfjs's heap) or in JavaScript: copy its span in (a memcpy),
    // then pack inside this module.
    const span = (items - 1) * itemStride + (k - 1) * kStride + 1;
    const mark = this.mark();
    const tmp = this.alloc(span * 4);
    this.f32.set(src.subarray(offset, offset + span), tmp >>> 2);
    this.packFn(tmp, items, k, itemStride * 4, kStride * 4, ptr, group, this.paddedK(k));
    this.release(mark);
  }

  /** `packStrided` for a source already in this memory (at byte `src`; strides in bytes): no copy in. */
  packAt(src: number, items: number, k: number, itemStrideBytes: number, kStrideBytes: number, ptr: number, group: number): void {
    if (items <= 0 || k <= 0) return;
    this.packFn(src, items, k, itemStrideBytes, kStrideBytes, ptr, group, this.paddedK(k));
  }

  /**
   * `packTransposed` for a source in this memory: op(A) = Aᵀ for A row-major [k, *] at byte `src` with row stride
   * `lda` floats, rows of op(A) [0, rows) packed as row blocks at `ptr`. Requires unroll 1 (no k padding).
   */
  packTransposedAt(src: number, rows: number, k: number, lda: number, ptr: number): void {
    if (rows <= 0 || k <= 0) return;
    if (this.unroll !== 1) throw new RangeError('SimdGemm.packTransposedAt needs unroll 1');
    this.packColsFn(src, rows, k, lda * 4, ptr, k);
  }

  /**
   * C[blocks·mr, panels·nr] = A·B for packed A (`blocks` row blocks at `a`) and B (`panels` panels at `b`), both
   * packed with the same k; C at byte `c` with row stride `ldc` floats (≥ panels·nr, multiple of 4). `accumulate`:
   * C += A·B (the later k blocks of a product split along k).
   */
  gemm(a: number, blocks: number, b: number, panels: number, k: number, c: number, ldc: number, accumulate = false): void {
    if (blocks <= 0 || panels <= 0) return;
    (accumulate ? this.gemmAccFn : this.gemmFn)(a, blocks, b, panels, this.paddedK(k), c, ldc * 4);
  }

  /**
   * C[blocks·mr, panels·nr] = A·B with A row-major in this memory (row i at byte `a` + i·lda·4, k floats; rows up to
   * blocks·mr must be readable, so pad a tail block with zero rows) and B packed as panels with kp = k (requires
   * unroll 1). No packing of A.
   */
  gemmRows(a: number, lda: number, blocks: number, b: number, panels: number, k: number, c: number, ldc: number, accumulate = false): void {
    if (blocks <= 0 || panels <= 0 || k <= 0) return;
    if (this.unroll !== 1) throw new RangeError('SimdGemm.gemmRows needs unroll 1 (B panels packed with kp = k)');
    (accumulate ? this.gemmRowsAccFn : this.gemmRowsFn)(a, lda * 4, blocks, b, panels, k, c, ldc * 4);
  }

  /**
   * Packs op(A) = Aᵀ as row blocks at `ptr`, for A row-major [k, *] in JavaScript or another memory: rows of op(A)
   * [r0, r0+rows) are A's columns, item i element j at src[offset + r0 + i + j·lda]. Same result as
   * `packStrided(src, offset + r0, rows, k, 1, lda, ptr, mr)`, read in A's row order.
   */
  packTransposed(src: Float32Array, offset: number, rows: number, k: number, lda: number, ptr: number): void {
    if (rows <= 0 || k <= 0) return;
    const kp = this.paddedK(k);
    const span = (k - 1) * lda + rows;
    const mark = this.mark();
    const tmp = this.alloc(span * 4);
    this.f32.set(src.subarray(offset, offset + span), tmp >>> 2);
    this.packColsFn(tmp, rows, k, lda * 4, ptr, kp);
    this.release(mark);
    // rows k..kp of every block (unroll > 1): zeros, as `pack` writes them
    if (kp > k) {
      const mem = this.f32;
      const blockFloats = kp * this.mr;
      for (let b = 0; b < Math.ceil(rows / this.mr); b++) mem.fill(0, (ptr >>> 2) + b * blockFloats + k * this.mr, (ptr >>> 2) + (b + 1) * blockFloats);
    }
  }

  /**
   * C[blocks·mr, panels·nr] of a convolution from an indirection table at `ind` (i32 byte addresses, [blocks][taps][mr],
   * each pointing at `ci` readable floats) and B packed as panels with k = taps·ci (requires unroll 1).
   */
  igemm(ind: number, blocks: number, b: number, panels: number, taps: number, ci: number, c: number, ldc: number): void {
    if (blocks <= 0 || panels <= 0 || taps <= 0 || ci <= 0) return;
    if (this.unroll !== 1) throw new RangeError('SimdGemm.igemm needs unroll 1 (B panels packed with kp = k)');
    this.igemmFn(ind, blocks, b, panels, taps, ci, c, ldc * 4);
  }
}
