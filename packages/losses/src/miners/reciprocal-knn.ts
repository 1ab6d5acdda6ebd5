/**
 * HIER's reciprocal k-nearest-neighbour triplet miner (spec §2.5), in plain JavaScript over a similarity
 * matrix read back from the device (mining has no gradient).
 */
import { HierError, type Rng } from '@hier-ts/core';

export interface MinedTriplets {
  /** Number of rows/columns of the similarity matrix. */
  n: number;
  /** k actually used (clamped to n). */
  k: number;
  /** Sorted column indices of each row's top-k (self included). */
  topk: Int32Array[];
  /** Mutual top-k neighbours of each row, ascending, self excluded. */
  posSets: Int32Array[];
  /** Columns with R < 1, ascending; contains the row itself (diag(R) = −1), as in the official code. */
  negSets: Int32Array[];
  /** Rows with more than one mutual neighbour, ascending. */
  validAnchors: Int32Array;
  anchor: Int32Array;
  positive: Int32Array;
  negative: Int32Array;
}

/**
 * Indices of the k largest entries of `row` (ties: lower index first), returned sorted ascending.
 * O(n·k) insertion, which beats a full sort for HIER's k = 20.
 */
function topkRow(sim: ArrayLike<number>, offset: number, n: number, k: number): Int32Array {
  const idx = new Int32Array(k);
  const val = new Float64Array(k);
  let size = 0;
  for (let j = 0; j < n; j++) {
    const v = sim[offset + j];
    if (size === k && !(v > val[k - 1])) continue;
    let p = size < k ? size++ : k - 1;
    while (p > 0 && v > val[p - 1]) {
      val[p] = val[p - 1];
      idx[p] = idx[p - 1];
      p--;
    }
    val[p] = v;
    idx[p] = j;
  }
  return idx.sort();
}

/**
 * Mines triplets from a square similarity matrix `sim` (row-major n×n):
 * top-k of every row (self included), R = (N + Nᵀ)/2 with diag(R) = −1, Pos(a) = {R = 1}, Neg(a) = {R < 1}
 * (so it contains a), anchors with |Pos(a)| ≤ 1 skipped, and `t` positives then `t` negatives drawn uniformly
 * with replacement per kept anchor, in row order.
 *
 * Where the official code crashes this returns a defined result: k > n is clamped to n; no kept anchor gives
 * empty triplet arrays; a one-element negative set is sampled like any other.
 */
export function reciprocalKnnTriplets(sim: ArrayLike<number>, n: number, k: number, t: number, rng: Rng): MinedTriplets {
  if (!Number.isInteger(n) || n < 1 || sim.length !== n * n) {
    throw new HierError('E_SHAPE', `reciprocalKnnTriplets: 'sim' must hold n×n = ${n}×${n} values, got ${sim.length}`);
  }
  if (!Number.isInteger(k) || k < 1) throw new HierError('E_ARG', `reciprocalKnnTriplets: 'k' must be an integer >= 1, got ${k}`);
  if (!Number.isInteger(t) || t < 1) throw new HierError('E_ARG', `reciprocalKnnTriplets: 't' must be an integer >= 1, got ${t}`);
  for (let i = 0; i < sim.length; i++) {
    if (Number.isNaN(sim[i])) {
      throw new HierError('E_NONFINITE', `reciprocalKnnTriplets: 'sim' [${n}, ${n}] has NaN at (${Math.floor(i / n)}, ${i % n})`);
    }
  }
  const kk = Math.min(k, n);
  const topk: Int32Array[] = [];
  const inTopk = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = topkRow(sim, i * n, n, kk);
    topk.push(row);
    for (const j of row) inTopk[i * n + j] = 1;
  }
  const posSets: Int32Array[] = [];
  const negSets: Int32Array[] = [];
  const valid: number[] = [];
  const anchor: number[] = [];
  const positive: number[] = [];
  const negative: number[] = [];
  for (let a = 0; a < n; a++) {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let b = 0; b < n; b++) {
      if (b !== a && inTopk[a * n + b] === 1 && inTopk[b * n + a] === 1) pos.push(b);
      else neg.push(b);
    }
    posSets.push(Int32Array.from(pos));
    negSets.push(Int32Array.from(neg));
    if (pos.length <= 1) continue;
    valid.push(a);
    for (let s = 0; s < t; s++) {
      anchor.push(a);
      positive.push(pos[rng.int(pos.length)]);
    }
    for (let s = 0; s < t; s++) negative.push(neg[rng.int(neg.length)]);
  }
  return {
    n,
    k: kk,
    topk,
    posSets,
    negSets,
    validAnchors: Int32Array.from(valid),
    anchor: Int32Array.from(anchor),
    positive: Int32Array.from(positive),
    negative: Int32Array.from(negative),
  };
}
