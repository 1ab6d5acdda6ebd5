/**
 * Per-row streaming top-k over score blocks without sorting whole rows: each row keeps a buffer of at most `cap`
 * candidates and a threshold (its current k-th best score). A score is only looked at when it reaches the
 * threshold, so after the first blocks almost every element costs one comparison. When the buffer fills, a
 * quickselect (O(cap)) keeps the best k and raises the threshold.
 *
 * Candidates are stored as one float64 key per entry that sorts ascending in the final order (higher score first,
 * then lower gallery index): the float32 score's bits mapped to an order-preserving uint32, inverted, times 2²¹,
 * plus the index. So selection and the final sort compare plain numbers (native Float64Array sort), with exact
 * (score, index) order. Hence gallery indices must be < 2²¹ (2 097 152 rows).
 */
export const MAX_GALLERY_ROWS = 2 ** 21;
const IDX_MUL = 2 ** 21;
const U32_MAX = 2 ** 32 - 1;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Packed key of (score, index); smaller = better. */
export function packKey(score: number, index: number): number {
  f32[0] = score;
  const b = u32[0]!;
  const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  return (U32_MAX - ordered) * IDX_MUL + index;
}

export function unpackIndex(key: number): number {
  return key % IDX_MUL;
}

export function unpackScore(key: number): number {
  const ordered = U32_MAX - Math.floor(key / IDX_MUL);
  u32[0] = ordered & 0x80000000 ? (ordered & 0x7fffffff) >>> 0 : ~ordered >>> 0;
  return f32[0]!;
}

export interface TopKState {
  cap: number;
  keys: Float64Array;
  count: Int32Array;
  thr: Float32Array;
}

/** Buffer size per row: larger means fewer compactions, each O(cap). */
export function topkCapacity(k: number): number {
  return 2 * k + 32;
}

export class RowTopK {
  readonly rows: number;
  readonly k: number;
  readonly cap: number;
  readonly keys: Float64Array;
  readonly count: Int32Array;
  readonly thr: Float32Array;

  /**
   * `shared` lets several threads work on one state (each row touched by one thread at a time); its arrays must be
   * sized rows·cap, rows, rows, with `thr` filled with −Infinity.
   */
  constructor(rows: number, k: number, shared?: TopKState) {
    this.rows = rows;
    this.k = k;
    if (shared) {
      this.cap = shared.cap;
      this.keys = shared.keys;
      this.count = shared.count;
      this.thr = shared.thr;
      return;
    }
    this.cap = topkCapacity(k);
    this.keys = new Float64Array(rows * this.cap);
    this.count = new Int32Array(rows);
    this.thr = new Float32Array(rows).fill(Number.NEGATIVE_INFINITY);
  }

  private compact(base: number): number {
    selectSmallest(this.keys, base, base + this.cap - 1, base + this.k - 1);
    return unpackScore(this.keys[base + this.k - 1]!);
  }

  /**
   * Offers scores `s[off .. off+len)` (gallery columns `col0 .. col0+len)`) to row `r`; column `skip` is never taken
   * (self exclusion; −1 for none). '>=' keeps exact ties, so the result is exact whatever the column order.
   */
  push(r: number, s: Float32Array, off: number, len: number, col0: number, skip: number): void {
    const keys = this.keys;
    const base = r * this.cap;
    const end = base + this.cap;
    let t = this.thr[r]!;
    let c = base + this.count[r]!;
    for (let j = 0; j < len; j++) {
      const v = s[off + j]!;
      if (v >= t) {
        const col = col0 + j;
        if (col === skip) continue;
        keys[c++] = packKey(v, col);
        if (c === end) {
          t = this.compact(base);
          c = base + this.k;
        }
      }
    }
    this.thr[r] = t;
    this.count[r] = c - base;
  }

  /**
   * Like `push` for inner products g: the score is alpha[col]·g + beta[col] + gamma[col]·x2 (the similarity algebra
   * of knn.ts), with alpha/beta/gamma indexed by the global column.
   */
  pushAffine(
    r: number,
    s: Float32Array,
    off: number,
    len: number,
    col0: number,
    skip: number,
    alpha: Float32Array,
    beta: Float32Array,
    gamma: Float32Array,
    x2: number,
  ): void {
    const keys = this.keys;
    const base = r * this.cap;
    const end = base + this.cap;
    let t = this.thr[r]!;
    let c = base + this.count[r]!;
    for (let j = 0; j < len; j++) {
      const col = col0 + j;
      const v = Math.fround(alpha[col]! * s[off + j]! + beta[col]! + gamma[col]! * x2);
      if (v >= t) {
        if (col === skip) continue;
        keys[c++] = packKey(v, col);
        if (c === end) {
          t = this.compact(base);
          c = base + this.k;
        }
      }
    }
    this.thr[r] = t;
    this.count[r] = c - base;
  }

  /**
   * The transposed side of a symmetric tile without transposing it: the scores s[off .. off+len) of gallery row
   * `row` against rows col0 .. col0+len are offered to *those* rows (each with its own threshold). Score for target
   * row j: a·g + b + gam·x2[j] (a, b, gam are `row`'s constants).
   */
  pushColumns(s: Float32Array, off: number, len: number, col0: number, row: number, a: number, b: number, gam: number, x2: Float32Array): void {
    const thr = this.thr;
    for (let j = 0; j < len; j++) {
      const target = col0 + j;
      const v = Math.fround(a * s[off + j]! + b + gam * x2[target]!);
      if (v >= thr[target]!) this.offer(target, v, row);
    }
  }

  /** Adds one candidate to row r (the caller checked it reaches the threshold). */
  offer(r: number, v: number, col: number): void {
    const base = r * this.cap;
    let c = this.count[r]!;
    this.keys[base + c] = packKey(v, col);
    c++;
    if (c === this.cap) {
      this.thr[r] = this.compact(base);
      c = this.k;
    }
    this.count[r] = c;
  }

  /** Writes row r's best min(k, count) entries, best first, at `o` of the outputs; returns how many. */
  finish(r: number, outIdx: Int32Array, outScore: Float32Array, o: number): number {
    const base = r * this.cap;
    let c = this.count[r]!;
    if (c > this.k) {
      selectSmallest(this.keys, base, base + c - 1, base + this.k - 1);
      c = this.k;
    }
    const sorted = this.keys.subarray(base, base + c).sort();
    for (let i = 0; i < c; i++) {
      outIdx[o + i] = unpackIndex(sorted[i]!);
      outScore[o + i] = unpackScore(sorted[i]!);
    }
    return c;
  }
}

/** Rearranges a[lo..hi] so that a[target] holds the value it would have if sorted and smaller ones precede it. */
export function selectSmallest(a: Float64Array, lo: number, hi: number, target: number): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    let x = a[lo]!;
    let y = a[mid]!;
    let z = a[hi]!;
    // median of three
    if (y < x) [x, y] = [y, x];
    if (z < y) {
      [y, z] = [z, y];
      if (y < x) [x, y] = [y, x];
    }
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}
