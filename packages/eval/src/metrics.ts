import { HierError } from '@hier-ts/core';
import type { KnnResult } from './knn.js';
import { checkLabels } from './matrix.js';

export type Labels = ArrayLike<number>;

function checkKnnLabels(r: KnnResult, queryLabels: Labels, galleryLabels: Labels, fn: string): void {
  checkLabels(queryLabels, r.rows, `${fn}: query labels`, 'the kNN result');
  if (galleryLabels.length === 0) throw new HierError('E_EMPTY', `${fn}: gallery labels are empty`);
}

/**
 * Recall@K as the official code computes it: a query is a hit when any of its K nearest gallery items shares its
 * label; Recall@K = hits / all queries (queries without any same-label gallery item count as misses, as in
 * HIER/Proxy-Anchor). K larger than the result's k is clipped to it with a warning. Returns fractions in [0, 1].
 */
export function recallAtK(
  r: KnnResult,
  queryLabels: Labels,
  galleryLabels: Labels,
  ks: readonly number[],
  warn?: (m: string) => void,
): Record<number, number> {
  checkKnnLabels(r, queryLabels, galleryLabels, 'recallAtK');
  const k = r.k;
  // Rank of the first hit (k when none), then every K is a threshold on it.
  const first = new Int32Array(r.rows);
  for (let i = 0; i < r.rows; i++) {
    const y = queryLabels[i];
    let f = k;
    for (let j = 0; j < k; j++) {
      const g = r.indices[i * k + j]!;
      if (g >= 0 && galleryLabels[g] === y) {
        f = j;
        break;
      }
    }
    first[i] = f;
  }
  const out: Record<number, number> = {};
  for (const K of ks) {
    if (!Number.isInteger(K) || K < 1) throw new HierError('E_ARG', `recallAtK: K must be a positive integer, got ${K}`);
    let kk = K;
    if (K > k) {
      warn?.(`recallAtK: K=${K} exceeds the ${k} neighbours available; Recall@${K} is computed as Recall@${k}`);
      kk = k;
    }
    let hits = 0;
    for (let i = 0; i < r.rows; i++) if (first[i]! < kk) hits++;
    out[K] = hits / r.rows;
  }
  return out;
}

/** For each query, how many gallery items it could retrieve with its label (self / masked position excluded). */
export function relevantCounts(r: KnnResult, queryLabels: Labels, galleryLabels: Labels): Int32Array {
  const counts = new Map<number, number>();
  for (let j = 0; j < galleryLabels.length; j++) counts.set(galleryLabels[j]!, (counts.get(galleryLabels[j]!) ?? 0) + 1);
  const R = new Int32Array(r.rows);
  for (let i = 0; i < r.rows; i++) {
    let c = counts.get(queryLabels[i]!) ?? 0;
    if (r.excludedSameIndex && i < galleryLabels.length && galleryLabels[i] === queryLabels[i]) c--;
    R[i] = c;
  }
  return R;
}

export interface RankMetrics {
  /** Mean average precision at R (Musgrave et al. 2020), over non-lone queries. */
  mapAtR: number;
  /** R-Precision, over non-lone queries. */
  rPrecision: number;
  /** Precision@1 over non-lone queries (PML's precision_at_1). */
  precisionAt1: number;
  /** Queries whose label has no other gallery item; PML leaves them out of these averages. */
  loneQueries: number;
  /** Largest R; the kNN list must hold at least this many neighbours. */
  maxR: number;
}

/**
 * MAP@R, R-Precision and Precision@1 with PML's definitions: R = number of gallery items sharing the query's
 * label (self excluded), only the top R neighbours count, lone queries (R = 0) are excluded, averages over queries.
 * Unlike PML with its default k, this refuses a kNN list shorter than the largest R (which silently gives wrong
 * values in PML, issues #240/#290).
 */
export function rankMetrics(r: KnnResult, queryLabels: Labels, galleryLabels: Labels): RankMetrics {
  checkKnnLabels(r, queryLabels, galleryLabels, 'rankMetrics');
  const R = relevantCounts(r, queryLabels, galleryLabels);
  let maxR = 0;
  for (let i = 0; i < r.rows; i++) maxR = Math.max(maxR, R[i]!);
  if (maxR > r.k) {
    throw new HierError(
      'E_K_TOO_SMALL',
      `rankMetrics: the kNN list has k=${r.k} neighbours but the largest class needs R=${maxR}; search with k ≥ ${maxR} (largest class size − 1)`,
    );
  }
  const k = r.k;
  let ap = 0;
  let rp = 0;
  let p1 = 0;
  let n = 0;
  let lone = 0;
  for (let i = 0; i < r.rows; i++) {
    const Ri = R[i]!;
    if (Ri === 0) {
      lone++;
      continue;
    }
    const y = queryLabels[i];
    let rel = 0;
    let sum = 0;
    for (let j = 0; j < Ri; j++) {
      const g = r.indices[i * k + j]!;
      if (g >= 0 && galleryLabels[g] === y) {
        rel++;
        sum += rel / (j + 1);
        if (j === 0) p1++;
      }
    }
    ap += sum / Ri;
    rp += rel / Ri;
    n++;
  }
  return {
    mapAtR: n ? ap / n : 0,
    rPrecision: n ? rp / n : 0,
    precisionAt1: n ? p1 / n : 0,
    loneQueries: lone,
    maxR,
  };
}

/** Largest number of same-label gallery items any query can retrieve, i.e. the k MAP@R needs. */
export function maxRelevant(queryLabels: Labels, galleryLabels: Labels | null): number {
  const g = galleryLabels ?? queryLabels;
  const counts = new Map<number, number>();
  for (let j = 0; j < g.length; j++) counts.set(g[j]!, (counts.get(g[j]!) ?? 0) + 1);
  let best = 0;
  const seen = new Set<number>();
  for (let i = 0; i < queryLabels.length; i++) {
    const y = queryLabels[i]!;
    if (seen.has(y)) continue;
    seen.add(y);
    best = Math.max(best, (counts.get(y) ?? 0) - (galleryLabels === null ? 1 : 0));
  }
  return best;
}
