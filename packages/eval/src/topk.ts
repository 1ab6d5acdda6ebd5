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
const INV_IDX_MUL = 2 ** -21;
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

// Keys are integers below 2⁵³, so these floor/multiply/subtract steps are exact; `key % IDX_MUL` gives the same
// index but a float64 `%` is a libm call in V8 (~5× slower), and the final unpack runs on every one of n·k results.
export function unpackIndex(key: number): number {
  return key - Math.floor(key * INV_IDX_MUL) * IDX_MUL;
}

export function unpackScore(key: number): number {
  return scoreOfOrdered(U32_MAX - Math.floor(key * INV_IDX_MUL));
}

function scoreOfOrdered(ordered: number): number {
  u32[0] = ordered & 0x80000000 ? (ordered & 0x7fffffff) >>> 0 : ~ordered >>> 0;
  return f32[0]!;
}

export interface TopKState {
  cap: number;
  keys: Float64Array;
  count: Int32Array;
  thr: Float32Array;
  /**
   * Optional per-row guessed thresholds (see `RowTopK.guess`): NaN = not guessed yet, −Infinity = no guess.
   * A row whose final k-th best falls below its guess must be searched again (`RowTopK.guessHeld`).
   */
  guess?: Float32Array;
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
  readonly guessThr: Float32Array | null;

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
      this.guessThr = shared.guess ?? null;
      return;
    }
    this.guessThr = null;
    this.cap = topkCapacity(k);
    this.keys = new Float64Array(rows * this.cap);
    this.count = new Int32Array(rows);
    this.thr = new Float32Array(rows).fill(Number.NEGATIVE_INFINITY);
  }

  private compact(base: number): number {
    selectSmallest(this.keys, base, base + this.cap - 1, base + this.k - 1);
    const kth = unpackScore(this.keys[base + this.k - 1]!);
    if (this.guessThr === null) return kth;
    // A guessed threshold above the buffer's k-th best stays: lowering it would only let in items the guess
    // already rejected elsewhere (the guess is verified at the end instead). Not Math.max: NaN means "no guess yet".
    const g = this.guessThr[base / this.cap]!;
    if (g > kth) return g;
    return kth;
  }

  /**
   * Sets row r's guessed threshold: a guess of its final k-th best score, made before most scores are seen (see
   * knn-sym.ts). The streaming threshold (k-th best so far) only reaches the final value slowly, so without a guess
   * a row takes ~k·(1 + ln(n/k)) candidates instead of ~1.7k. The guess is only a speed-up: `guessHeld` tells
   * whether it was safe. −Infinity = no guess.
   */
  setGuess(r: number, value: number): void {
    this.guessThr![r] = value;
    if (value > this.thr[r]!) this.thr[r] = value;
  }

  /**
   * True when row r's result is exact despite its guessed threshold: every rejected score was below the guess, so
   * the k best kept candidates are the true k best iff the k-th of them reaches the guess.
   */
  guessHeld(r: number): boolean {
    const g = this.guessThr === null ? Number.NEGATIVE_INFINITY : this.guessThr[r]!;
    if (!(g > Number.NEGATIVE_INFINITY)) return true; // no guess (NaN = never guessed, −∞ = declined)
    const c = this.count[r]!;
    if (c < this.k) return false;
    // At least k kept scores reach g ⟺ the k-th best does; keys ≤ packKey(g, max index) are exactly those.
    const limit = packKey(g, IDX_MUL - 1);
    const keys = this.keys;
    const base = r * this.cap;
    let reach = 0;
    for (let i = base; i < base + c; i++) if (keys[i]! <= limit) reach++;
    return reach >= this.k;
  }

  /** Forgets row r's candidates and guess so it can be searched again from scratch. */
  reset(r: number): void {
    this.count[r] = 0;
    this.thr[r] = Number.NEGATIVE_INFINITY;
    if (this.guessThr) this.guessThr[r] = Number.NEGATIVE_INFINITY;
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
    this.sorter ??= new KeySorter(this.keys, this.k);
    this.sorter.sort(base, c);
    const keys = this.keys;
    for (let i = 0; i < c; i++) {
      const key = keys[base + i]!;
      const high = Math.floor(key * INV_IDX_MUL);
      outIdx[o + i] = key - high * IDX_MUL;
      outScore[o + i] = scoreOfOrdered(U32_MAX - high);
    }
    return c;
  }

  private sorter: KeySorter | undefined;
}

/**
 * Ascending sort of runs of packed keys (non-negative integers below 2⁵³ stored as float64) by an LSD radix sort
 * over the bytes of their IEEE bit patterns, which order like the values for non-negative doubles. Bytes that are
 * equal across a run are skipped. A native Float64Array sort of 1000 keys took ~60 µs here (mostly mispredicted
 * comparisons); this takes a fraction of that and is what the final sort of every kNN row costs.
 */
export class KeySorter {
  private readonly keys: Float64Array;
  private readonly words: Uint32Array;
  private tmp: Float64Array;
  private tmpWords: Uint32Array;
  private readonly counts = new Int32Array(8 * 256);

  constructor(keys: Float64Array, expectedRun: number) {
    this.keys = keys;
    this.words = new Uint32Array(keys.buffer, keys.byteOffset, keys.length * 2);
    this.tmp = new Float64Array(Math.max(1, expectedRun));
    this.tmpWords = new Uint32Array(this.tmp.buffer);
  }

  /** Sorts keys[base, base + n) in place. */
  sort(base: number, n: number): void {
    if (n < 2) return;
    if (n < 32) {
      this.keys.subarray(base, base + n).sort();
      return;
    }
    if (this.tmp.length < n) {
      this.tmp = new Float64Array(n);
      this.tmpWords = new Uint32Array(this.tmp.buffer);
    }
    const counts = this.counts;
    counts.fill(0);
    const words = this.words;
    // Little-endian: word 2i is the low half of key i.
    for (let i = 0; i < n; i++) {
      const lo = words[2 * (base + i)]!;
      const hi = words[2 * (base + i) + 1]!;
      counts[lo & 255]!++;
      counts[256 + ((lo >>> 8) & 255)]!++;
      counts[512 + ((lo >>> 16) & 255)]!++;
      counts[768 + (lo >>> 24)]!++;
      counts[1024 + (hi & 255)]!++;
      counts[1280 + ((hi >>> 8) & 255)]!++;
      counts[1536 + ((hi >>> 16) & 255)]!++;
      counts[1792 + (hi >>> 24)]!++;
    }
    let src = this.keys;
    let srcWords = words;
    let srcBase = base;
    let dst = this.tmp;
    let dstWords = this.tmpWords;
    let dstBase = 0;
    for (let d = 0; d < 8; d++) {
      const c0 = d * 256;
      const word = d < 4 ? 0 : 1;
      const shift = (d & 3) * 8;
      // A byte shared by every key leaves the order as it is.
      if (counts[c0 + ((srcWords[2 * srcBase + word]! >>> shift) & 255)] === n) continue;
      let sum = 0;
      for (let b = 0; b < 256; b++) {
        const t = counts[c0 + b]!;
        counts[c0 + b] = sum;
        sum += t;
      }
      for (let i = 0; i < n; i++) {
        const byte = (srcWords[2 * (srcBase + i) + word]! >>> shift) & 255;
        dst[dstBase + counts[c0 + byte]!++] = src[srcBase + i]!;
      }
      [src, dst] = [dst, src];
      [srcWords, dstWords] = [dstWords, srcWords];
      [srcBase, dstBase] = [dstBase, srcBase];
    }
    if (src !== this.keys) this.keys.set(src.subarray(srcBase, srcBase + n), base);
  }
}

/**
 * Key of the symmetric search for item `self` against item `other`, from g = ⟨x_self, x_other⟩ (the augmented
 * inner products of knn.ts `augment`): kind 0 inner product (cosine, dot); 1 euclidean 2g − ‖y‖²;
 * 2 Poincaré −(‖x‖² + ‖y‖² − 2g)·w_y with w = 1/(1 − c‖·‖²). Symmetric in the sum, so both sides of a score agree
 * with a row-by-row search.
 */
export function symKey(kind: 0 | 1 | 2, g: number, x2self: number, x2other: number, wOther: number): number {
  if (kind === 0) return g;
  if (kind === 1) return Math.fround(2 * g - x2other);
  return Math.fround(-(x2self + x2other - 2 * g) * wOther);
}

/**
 * The `rank`-th largest (1 = largest) of `negated[lo .. lo+count)`, which holds the values negated, i.e. the
 * rank-th smallest there, negated back; reorders that range. `work` needs `count` entries.
 * Same value as a quickselect over the whole range, found faster when rank ≪ count (the kNN threshold guesses:
 * rank ~60 of 2048): a stride-8 sample's slightly generous order statistic bounds the answer from above, one pass
 * keeps only the values at or below that bound (a few hundred), and the exact selection runs on those. If the
 * bound keeps fewer than `rank` values (unlucky sample), the whole range is selected instead.
 */
export function rankedFromNegated(negated: Float64Array, count: number, rank: number, lo = 0, work?: Float64Array): number {
  if (rank < 1 || rank > count) throw new RangeError(`rank ${rank} outside 1..${count}`);
  const stride = 8;
  const m = Math.floor(count / stride);
  const buf = work ?? new Float64Array(count);
  if (m >= 64) {
    const sampleRank = Math.min(m, sampleBoundRank(rank, m, count));
    if (sampleRank < m) {
      for (let i = 0; i < m; i++) buf[i] = negated[lo + i * stride]!;
      selectSmallest(buf, 0, m - 1, sampleRank - 1);
      const bound = buf[sampleRank - 1]!;
      let kept = 0;
      for (let i = lo; i < lo + count; i++) {
        const v = negated[i]!;
        if (v <= bound) buf[kept++] = v;
      }
      if (kept >= rank) {
        selectSmallest(buf, 0, kept - 1, rank - 1);
        return -buf[rank - 1]!;
      }
    }
  }
  selectSmallest(negated, lo, lo + count - 1, lo + rank - 1);
  return -negated[lo + rank - 1]!;
}

/**
 * The order statistic of an m-element sample of `count` values that bounds their rank-th smallest from above with
 * high probability: the expected sample rank plus three standard deviations (and 2).
 */
export function sampleBoundRank(rank: number, m: number, count: number): number {
  const expected = (rank * m) / count;
  return Math.ceil(expected + 3 * Math.sqrt(expected) + 2);
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
