/**
 * Leave-one-out kNN that exploits the symmetry of the inner-product matrix: the gallery is the query set, so the
 * tile X_I·X_Jᵀ serves rows I (against columns J) and, transposed, rows J (against columns I). Only tiles with
 * I ≤ J are multiplied, halving the matmul work. The per-row top-k state lives in shared memory; the parent
 * schedules tiles so two threads never hold the same row block at once, so no locks are needed.
 * Keys are those of knn.ts `augment`, computed from g = ⟨x_i, x_j⟩ and the squared norms (`symKey` in topk.ts).
 */
import { SimdGemm } from '@hier-ts/engine/simd';
import { SCAN_MAX_COLS, scanEntryCol, scanEntryMask, scanEntryRow, scanFunction, scanName } from './knn-scan.js';
import { keysToScoresRows, type ScoreKind } from './knn-score.js';
import { RowTopK, rankedFromNegated, sampleBoundRank, selectSmallest, symKey, type TopKState } from './topk.js';

export interface SymShared {
  x: Float32Array;
  n: number;
  d: number;
  tile: number;
  k: number;
  x2: Float32Array;
  /** Key kind for `symKey`: 0 cosine/dot (inner product of the stored rows), 1 euclidean, 2 Poincaré. */
  kind: 0 | 1 | 2;
  /** Poincaré weights 1/(1 − c‖x‖²) (ones otherwise). */
  wBall: Float32Array;
  /** ‖x‖² in float64, for turning keys into scores (`knn-score.ts`) exactly as the row search does. */
  qNorm2: Float64Array;
  scoreKind: ScoreKind;
  /** Ball curvature ('poincare' scores). */
  c: number;
  state: TopKState;
  /**
   * Threshold guessing (`RowTopK.guess`) after a row's first tile: the guessed rank is e + σ·√e + 1 with e = k·seen/(n−1)
   * the expected number of final top-k items among the seen scores; null = off. Rows where it fails are re-searched.
   */
  guessSigmas: number | null;
  outIdx: Int32Array;
  outKey: Float32Array;
}

/** Rows per GEMM call: ~192 rows of packed A (~400 KB for d = 512) stay in L2 while B panels stream past. */
const GEMM_CHUNK_ROWS = 192;
/** Columns whose threshold guesses are made together (`guessColumns`): 256 floats = 16 cache lines of a C row. */
const GUESS_STRIP = 256;
/** Every GUESS_SAMPLE-th row of a tile samples the columns' scores for their guesses. */
const GUESS_SAMPLE = 8;
/** Rows re-searched per batch after failed threshold guesses. */
const RESEARCH_ROWS = 256;

/**
 * The order tiles (I ≤ J) are handed out: every off-diagonal tile first, the diagonal tiles last. By then every
 * row has met a tile and has its guessed threshold, so each diagonal tile needs only its upper part (half the
 * multiply; see `SymWorker.tile`).
 */
export function symTileOrder(blocks: number): [number, number][] {
  const tiles: [number, number][] = [];
  for (let I = 0; I < blocks; I++) for (let J = I + 1; J < blocks; J++) tiles.push([I, J]);
  for (let I = 0; I < blocks; I++) tiles.push([I, I]);
  return tiles;
}

export class SymWorker {
  private readonly s: SymShared;
  private readonly gemm: SimdGemm;
  /** Row blocks per GEMM call. */
  private readonly chunkBlocks: number;
  private readonly acc: RowTopK;
  private readonly tileRows: number[] = [];
  /** Byte offsets of each tile's rows packed as A row blocks and as B column panels. */
  private readonly aPtr: number[] = [];
  private readonly bPtr: number[] = [];
  private readonly cPtr: number;
  /** Row stride of C in floats (tile edge rounded up to the panel width). */
  private readonly ldc: number;
  private readonly rowThrPtr: number;
  private readonly colThrPtr: number;
  private readonly x2Ptr: number;
  private readonly wPtr: number;
  private readonly outPtr: number;
  /** Keys of one row of a tile, for guessing. */
  private readonly scratch: Float64Array;
  /** Column guesses (`guessColumns`): per strip column its sample, its kept keys, their count and its bound. */
  private readonly guessSample: Float64Array;
  private readonly guessKept: Float64Array;
  private readonly guessKeptCap: number;
  private readonly guessKeptCount: Int32Array;
  private readonly guessBound: Float64Array;
  private readonly guessWork: Float64Array;
  /** Per-row bound on |float32 SIMD key − exact key| (kinds 1, 2), subtracted from thresholds before the scan. */
  private readonly margin: Float32Array;
  private readonly scan: (...args: number[]) => number;
  /** Seconds spent in the GEMM, in the threshold scan plus offering candidates to the top-k, and in the final sort. */
  readonly profile = { matmul: 0, select: 0, finish: 0, retried: 0 };

  constructor(s: SymShared) {
    this.s = s;
    this.acc = new RowTopK(s.n, s.k, s.state);
    this.gemm = SimdGemm.create({ extra: [scanFunction(s.kind)] });
    this.chunkBlocks = Math.ceil(GEMM_CHUNK_ROWS / this.gemm.mr);
    this.scan = this.gemm.exported(scanName(s.kind));
    const g = this.gemm;
    if (s.tile > SCAN_MAX_COLS) throw new RangeError(`knn: symmetric tiles are at most ${SCAN_MAX_COLS} rows, got ${s.tile}`);
    const tilePad = Math.ceil(s.tile / g.nr) * g.nr;
    this.ldc = tilePad;
    for (let r0 = 0; r0 < s.n; r0 += s.tile) {
      const h = Math.min(s.tile, s.n - r0);
      this.tileRows.push(h);
      const a = g.alloc(g.rowBlocksBytes(h, s.d));
      g.packRowBlocks(s.x, r0, h, s.d, a);
      this.aPtr.push(a);
      const b = g.alloc(g.panelsBytes(h, s.d));
      g.packPanels(s.x, r0, h, s.d, b);
      this.bPtr.push(b);
    }
    // C and the scan output also serve the re-search of up to RESEARCH_ROWS rows against one tile.
    const cRows = Math.ceil(Math.max(tilePad, RESEARCH_ROWS) / g.mr) * g.mr;
    this.cPtr = g.alloc(cRows * tilePad * 4);
    this.rowThrPtr = g.alloc(cRows * 4);
    this.colThrPtr = g.alloc(tilePad * 4);
    const padN = s.n + tilePad;
    this.x2Ptr = g.alloc(padN * 4);
    this.wPtr = g.alloc(padN * 4);
    this.outPtr = g.alloc(cRows * (tilePad / 4) * 4);
    const mem = g.f32;
    mem.set(s.x2, this.x2Ptr >> 2);
    mem.set(s.wBall, this.wPtr >> 2);
    this.margin = keyErrorBounds(s);
    this.scratch = new Float64Array(tilePad);
    this.guessSample = new Float64Array(GUESS_STRIP * Math.ceil(cRows / GUESS_SAMPLE));
    this.guessKeptCap = 1024;
    this.guessKept = new Float64Array(GUESS_STRIP * this.guessKeptCap);
    this.guessKeptCount = new Int32Array(GUESS_STRIP);
    this.guessBound = new Float64Array(GUESS_STRIP);
    this.guessWork = new Float64Array(cRows);
  }

  get blocks(): number {
    return this.tileRows.length;
  }

  /** C = rows of tile I times tile J's panels ([h, ldc] at cPtr); returns seconds. */
  /**
   * C = rows at `aPtr` (packed) times tile J's panels, into [rows, ldc] at cPtr, in chunks of this.chunkBlocks row
   * blocks. `upper`: a diagonal tile's upper part only — each chunk starts at the panel holding its first row, so
   * C is valid where column ≥ the chunk's first row (about half the work; `chunkFirstPanel` says where).
   */
  private multiply(aPtr: number, rows: number, J: number, upper = false): void {
    const g = this.gemm;
    const blocks = Math.ceil(rows / g.mr);
    const panels = Math.ceil(this.tileRows[J]! / g.nr);
    const kp = g.paddedK(this.s.d);
    const aBlockBytes = g.mr * kp * 4;
    for (let b0 = 0; b0 < blocks; b0 += this.chunkBlocks) {
      const nb = Math.min(this.chunkBlocks, blocks - b0);
      const p0 = upper ? this.chunkFirstPanel(b0) : 0;
      g.gemm(aPtr + b0 * aBlockBytes, nb, this.bPtr[J]! + p0 * g.nr * kp * 4, panels - p0, this.s.d, this.cPtr + (b0 * g.mr * this.ldc + p0 * g.nr) * 4, this.ldc);
    }
  }

  /** First panel computed for the chunk starting at row block b0 of a diagonal tile's upper part. */
  private chunkFirstPanel(b0: number): number {
    return Math.floor((b0 * this.gemm.mr) / this.gemm.nr);
  }

  /**
   * Copies thresholds (lowered by the key error bound) of rows [r0, r0+h) to `rowThrPtr` and of columns
   * [c0, c0+w) to `colThrPtr`; columns past w (padding) and, when `cols` is false, all columns get +∞.
   */
  private loadThresholds(r0: number, h: number, c0: number, w: number, cols: boolean): void {
    const mem = this.gemm.f32;
    const thr = this.s.state.thr;
    const m = this.margin;
    const ro = this.rowThrPtr >> 2;
    for (let i = 0; i < h; i++) mem[ro + i] = thr[r0 + i]! - m[r0 + i]!;
    const co = this.colThrPtr >> 2;
    for (let j = 0; j < this.ldc; j++) mem[co + j] = cols && j < w ? thr[c0 + j]! - m[c0 + j]! : Number.POSITIVE_INFINITY;
  }

  /**
   * Scans C (`h` rows at `cPtr`, row stride ldc, `w` columns = gallery columns c0 ..) and offers what passed to the
   * top-k with exact keys: row `rowBase + r` (or `rowList[r]`) against each flagged column and, for flagged
   * column-side lanes, that column against the row. `exclude`: 'self' never takes the column equal to the row (full diagonal tiles,
   * re-search); 'upper' takes only columns after the row (a diagonal tile's upper part, both sides).
   */
  private scanAndOffer(
    cPtr: number,
    rowBase: number,
    rowList: number[] | null,
    h: number,
    rowThrPtr: number,
    x2RowPtr: number,
    wRowPtr: number,
    colThrPtr: number,
    c0: number,
    w: number,
    exclude: 'none' | 'self' | 'upper',
  ): void {
    const s = this.s;
    const kind = s.kind;
    const x2 = s.x2;
    const wb = s.wBall;
    const thr = s.state.thr;
    const acc = this.acc;
    const ldc = this.ldc;
    const n = this.scan(cPtr, ldc * 4, h, Math.ceil(w / 4), rowThrPtr, colThrPtr, x2RowPtr, this.x2Ptr + 4 * c0, wRowPtr, this.wPtr + 4 * c0, this.outPtr);
    const mem = this.gemm.f32;
    const entries = new Int32Array(mem.buffer, this.outPtr, n);
    const cBase = cPtr >> 2;
    // Self pairs: a full diagonal tile skips col === row; its upper part keeps only col > row. Columns past w are
    // padding (their thresholds are +∞, but a row-side lane there can still pass).
    const upperOnly = exclude === 'upper';
    const skipSelf = exclude === 'self';
    const colEnd = c0 + w;
    for (let e = 0; e < n; e++) {
      const code = entries[e]!;
      const r = scanEntryRow(code);
      const j = scanEntryCol(code);
      const mask = scanEntryMask(code);
      const row = rowList === null ? rowBase + r : rowList[r]!;
      const base = cBase + r * ldc + j;
      const x2r = x2[row]!;
      const wr = wb[row]!;
      const col0 = c0 + j;
      // Each set bit is one lane: bits 0..3 row r against column col0 + l, bits 4..7 that column against row r.
      for (let m = mask; m !== 0; m &= m - 1) {
        const bit = 31 - Math.clz32(m & -m);
        const l = bit & 3;
        const col = col0 + l;
        if (col >= colEnd || (upperOnly ? col <= row : skipSelf && col === row)) continue;
        const g = mem[base + l]!;
        if (bit < 4) {
          const v = symKey(kind, g, x2r, x2[col]!, wb[col]!);
          if (v >= thr[row]!) acc.offer(row, v, col);
        } else {
          const v = symKey(kind, g, x2[col]!, x2r, wr);
          if (v >= thr[col]!) acc.offer(col, v, row);
        }
      }
    }
  }

  /** Multiplies tile (I, J), I ≤ J, and offers it to rows I and (transposed) rows J. */
  async tile(I: number, J: number): Promise<void> {
    const s = this.s;
    const r0 = I * s.tile;
    const c0 = J * s.tile;
    const h = this.tileRows[I]!;
    const w = this.tileRows[J]!;
    const diagonal = I === J;
    const guessing = s.state.guess !== undefined && s.guessSigmas !== null;
    // A diagonal tile whose rows all have their guess already needs only its upper part: each score there feeds
    // both sides. A row meeting its first tile here needs its whole row of scores for the guess, so such a tile
    // is computed in full and fed by rows only (self skipped).
    const upper = diagonal && (!guessing || this.allGuessed(r0, h));
    const t0 = performance.now();
    this.multiply(this.aPtr[I]!, h, J, upper);
    const t1 = performance.now();
    this.profile.matmul += (t1 - t0) / 1000;
    if (guessing) this.guessFirstContacts(r0, h, c0, w, diagonal);
    this.loadThresholds(r0, h, c0, w, !diagonal || upper);
    if (!upper) {
      this.scanAndOffer(this.cPtr, r0, null, h, this.rowThrPtr, this.x2Ptr + 4 * r0, this.wPtr + 4 * r0, this.colThrPtr, c0, w, diagonal ? 'self' : 'none');
    } else {
      const g = this.gemm;
      const chunkRows = this.chunkBlocks * g.mr;
      for (let b0 = 0; b0 * g.mr < h; b0 += this.chunkBlocks) {
        const first = b0 * g.mr;
        const col0 = this.chunkFirstPanel(b0) * g.nr;
        this.scanAndOffer(
          this.cPtr + (first * this.ldc + col0) * 4,
          r0 + first,
          null,
          Math.min(chunkRows, h - first),
          this.rowThrPtr + 4 * first,
          this.x2Ptr + 4 * (r0 + first),
          this.wPtr + 4 * (r0 + first),
          this.colThrPtr + 4 * col0,
          c0 + col0,
          w - col0,
          'upper',
        );
      }
    }
    this.profile.select += (performance.now() - t1) / 1000;
  }

  private allGuessed(r0: number, h: number): boolean {
    const guess = this.s.state.guess!;
    for (let r = r0; r < r0 + h; r++) if (Number.isNaN(guess[r]!)) return false;
    return true;
  }

  /**
   * Rows (and, off the diagonal, columns) that meet their first tile get a guessed threshold from this tile's
   * scores alone, before anything is offered: the score of rank e + σ·√e + 1 among the `seen` scores, with
   * e = k·seen/(n−1) the expected number of final top-k items among them. So a row's first tile hands the top-k
   * tens of candidates instead of all of its scores.
   */
  private guessFirstContacts(r0: number, h: number, c0: number, w: number, diagonal: boolean): void {
    const s = this.s;
    const guess = s.state.guess!;
    const { kind, x2, wBall: wb, k } = s;
    const mem = this.gemm.f32;
    const cBase = this.cPtr >> 2;
    const ldc = this.ldc;
    const scratch = this.scratch;
    const decide = (rank: number, seen: number): boolean => rank >= 1 && rank < k && seen > rank;
    const rankRows = this.guessRank(diagonal ? w - 1 : w);
    for (let r = 0; r < h; r++) {
      const row = r0 + r;
      if (!Number.isNaN(guess[row]!)) continue;
      const seen = diagonal ? w - 1 : w;
      if (!decide(rankRows, seen)) {
        this.acc.setGuess(row, Number.NEGATIVE_INFINITY);
        continue;
      }
      const x2r = x2[row]!;
      const base = cBase + r * ldc;
      let n = 0;
      for (let j = 0; j < w; j++) {
        const col = c0 + j;
        if (col !== row) scratch[n++] = -symKey(kind, mem[base + j]!, x2r, x2[col]!, wb[col]!);
      }
      this.acc.setGuess(row, rankedFromNegated(scratch, n, rankRows, 0, this.guessWork));
    }
    if (diagonal) return;
    this.guessColumns(r0, h, c0, w);
  }

  /**
   * The column side of `guessFirstContacts`, with the value `rankedFromNegated` would give. Column j's scores run
   * down C with stride ldc (C is 16 MB), so gathering whole columns misses the cache on nearly every read. Instead,
   * per strip of GUESS_STRIP columns: every GUESS_SAMPLE-th row gives each column a sample whose generous order
   * statistic bounds the answer; one row-major pass keeps each column's keys at or below its bound (a few hundred);
   * the exact selection runs on those. A column whose bound kept too few (or too many) is gathered in full.
   */
  private guessColumns(r0: number, h: number, c0: number, w: number): void {
    const s = this.s;
    const guess = s.state.guess!;
    const { kind, x2, wBall: wb, k } = s;
    const mem = this.gemm.f32;
    const cBase = this.cPtr >> 2;
    const ldc = this.ldc;
    const rank = this.guessRank(h);
    const m = Math.floor(h / GUESS_SAMPLE);
    const sampleRank = sampleBoundRank(rank, m, h);
    const sampled = m >= 64 && sampleRank < m;
    const cap = this.guessKeptCap;
    const { guessSample: sample, guessKept: kept, guessKeptCount: count, guessBound: bound, scratch } = this;
    for (let j0 = 0; j0 < w; j0 += GUESS_STRIP) {
      const j1 = Math.min(w, j0 + GUESS_STRIP);
      const open: number[] = [];
      for (let j = j0; j < j1; j++) {
        const col = c0 + j;
        if (!Number.isNaN(guess[col]!)) continue;
        if (rank >= 1 && rank < k && h > rank) open.push(j);
        else this.acc.setGuess(col, Number.NEGATIVE_INFINITY);
      }
      if (open.length === 0) continue;
      const jl = open[0]!;
      const jr = open[open.length - 1]! + 1;
      const full: number[] = [];
      if (sampled && sampleRank * GUESS_SAMPLE * 2 + 64 <= cap) {
        for (let i = 0; i < m; i++) {
          const r = i * GUESS_SAMPLE;
          const x2r = x2[r0 + r]!;
          const wr = wb[r0 + r]!;
          const base = cBase + r * ldc;
          for (let j = jl; j < jr; j++) sample[(j - j0) * m + i] = -symKey(kind, mem[base + j]!, x2[c0 + j]!, x2r, wr);
        }
        for (let j = jl; j < jr; j++) {
          const lo = (j - j0) * m;
          selectSmallest(sample, lo, lo + m - 1, lo + sampleRank - 1);
          bound[j - j0] = sample[lo + sampleRank - 1]!;
          count[j - j0] = 0;
        }
        for (let r = 0; r < h; r++) {
          const x2r = x2[r0 + r]!;
          const wr = wb[r0 + r]!;
          const base = cBase + r * ldc;
          for (let j = jl; j < jr; j++) {
            const v = -symKey(kind, mem[base + j]!, x2[c0 + j]!, x2r, wr);
            const jj = j - j0;
            if (v <= bound[jj]!) {
              const c = count[jj]!;
              if (c < cap) kept[jj * cap + c] = v;
              count[jj] = c + 1;
            }
          }
        }
        for (const j of open) {
          const jj = j - j0;
          const c = count[jj]!;
          if (c < rank || c > cap) {
            full.push(j);
            continue;
          }
          selectSmallest(kept, jj * cap, jj * cap + c - 1, jj * cap + rank - 1);
          this.acc.setGuess(c0 + j, -kept[jj * cap + rank - 1]!);
        }
      } else {
        full.push(...open);
      }
      for (const j of full) {
        for (let r = 0; r < h; r++) scratch[r] = -symKey(kind, mem[cBase + r * ldc + j]!, x2[c0 + j]!, x2[r0 + r]!, wb[r0 + r]!);
        this.acc.setGuess(c0 + j, rankedFromNegated(scratch, h, rank, 0, this.guessWork));
      }
    }
  }

  private guessRank(seen: number): number {
    const e = (this.s.k * seen) / Math.max(1, this.s.n - 1);
    return Math.ceil(e + this.s.guessSigmas! * Math.sqrt(e) + 1);
  }

  /** Sorts rows [r0, r1) into the shared output, first re-searching rows whose guessed threshold was too high. */
  async finish(r0: number, r1: number): Promise<void> {
    const t0 = performance.now();
    const k = this.s.k;
    const failed: number[] = [];
    for (let r = r0; r < r1; r++) if (!this.acc.guessHeld(r)) failed.push(r);
    for (let f0 = 0; f0 < failed.length; f0 += RESEARCH_ROWS) this.research(failed.slice(f0, f0 + RESEARCH_ROWS));
    this.profile.retried += failed.length;
    for (let r = r0; r < r1; r++) this.acc.finish(r, this.s.outIdx, this.s.outKey, r * k);
    const s = this.s;
    if (s.scoreKind !== 'key') keysToScoresRows(s.outKey, s.outIdx, s.outKey, r0, r1, k, s.qNorm2, s.scoreKind, s.c);
    this.profile.finish += (performance.now() - t0) / 1000;
  }

  /** Searches the given rows again against every column, without a guess (rare: the guess is ~4σ safe). */
  private research(rows: number[]): void {
    const s = this.s;
    const g = this.gemm;
    const mark = g.mark();
    try {
      const q = new Float32Array(rows.length * s.d);
      rows.forEach((r, i) => {
        this.acc.reset(r);
        q.set(s.x.subarray(r * s.d, (r + 1) * s.d), i * s.d);
      });
      const a = g.alloc(g.rowBlocksBytes(rows.length, s.d));
      g.packRowBlocks(q, 0, rows.length, s.d, a);
      // The scan reads the rows' ‖x‖² and w at consecutive addresses: gather them behind the x2/w of all rows.
      const x2 = g.alloc(rows.length * 4);
      const wr = g.alloc(rows.length * 4);
      const mem = g.f32;
      rows.forEach((r, i) => {
        mem[(x2 >> 2) + i] = s.x2[r]!;
        mem[(wr >> 2) + i] = s.wBall[r]!;
      });
      const ro = this.rowThrPtr >> 2;
      for (let J = 0; J < this.blocks; J++) {
        this.multiply(a, rows.length, J);
        const w = this.tileRows[J]!;
        rows.forEach((r, i) => {
          mem[ro + i] = s.state.thr[r]! - this.margin[r]!;
        });
        mem.fill(Number.POSITIVE_INFINITY, this.colThrPtr >> 2, (this.colThrPtr >> 2) + this.ldc);
        this.scanAndOffer(this.cPtr, 0, rows, rows.length, this.rowThrPtr, x2, wr, this.colThrPtr, J * s.tile, w, 'self');
      }
    } finally {
      g.release(mark);
    }
  }

  dispose(): void {
    // The wasm memory goes with the object; nothing is held on a tfjs backend.
  }
}

/**
 * Euclidean keys (kind 1): bound on how far the float32 SIMD key 2g − ‖y‖² can fall below the exact key of
 * `symKey` for index i as the row (or column) side — double rounding through float64, a few ulps of terms no larger
 * than 2|g| + ‖x_i‖² + max‖y‖². Zero for kinds 0 (exact) and 2 (bounded per key inside the scan).
 */
function keyErrorBounds(s: SymShared): Float32Array {
  const m = new Float32Array(s.n);
  if (s.kind !== 1) return m;
  let x2max = 0;
  for (let i = 0; i < s.n; i++) x2max = Math.max(x2max, s.x2[i]!);
  for (let i = 0; i < s.n; i++) {
    const x2 = s.x2[i]!;
    m[i] = 2 ** -20 * (2 * Math.sqrt(x2 * x2max) + x2 + x2max) * 2 + 1e-30;
  }
  return m;
}
