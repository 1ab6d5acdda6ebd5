import { HierError, Rng } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';
import type { Labels } from './metrics.js';
import { type Matrix, type MatrixLike, toMatrix } from './matrix.js';

export interface KMeansOptions {
  k: number;
  /** Lloyd iterations after k-means++ seeding (faiss, as PML calls it: 20). */
  iterations?: number;
  rng?: Rng;
  blockRows?: number;
}

export interface KMeansResult {
  assignments: Int32Array;
  centroids: Float32Array;
  inertia: number;
  iterations: number;
}

/**
 * Seeded k-means: k-means++ seeding (D² sampling), then Lloyd iterations whose assignment step is a blocked
 * matMul on the active tfjs backend. An emptied cluster is re-seeded with the point farthest from its centroid so
 * the result always has k clusters when n ≥ k.
 */
export async function kmeans(x: MatrixLike, options: KMeansOptions): Promise<KMeansResult> {
  const m = await toMatrix(x, 'kmeans input');
  const { rows: n, dim: d, data } = m;
  const k = options.k;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new HierError('E_ARG', `kmeans: k must be an integer in [1, ${n}] (rows), got ${k}`);
  const rng = options.rng ?? new Rng(0);
  const iterations = options.iterations ?? 20;
  const cent = new Float32Array(k * d);
  // k-means++ seeding
  const minD = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let pick = rng.int(n);
  for (let c = 0; c < k; c++) {
    cent.set(data.subarray(pick * d, pick * d + d), c * d);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = data[i * d + j]! - cent[c * d + j]!;
        s += t * t;
      }
      if (s < minD[i]!) minD[i] = s;
      total += minD[i]!;
    }
    if (c === k - 1) break;
    if (total <= 0) {
      pick = rng.int(n);
      continue;
    }
    let u = rng.next() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      u -= minD[i]!;
      if (u < 0) {
        pick = i;
        break;
      }
    }
  }
  const assign = new Int32Array(n);
  const dist = new Float32Array(n);
  const xT = tf.tensor2d(data, [n, d]);
  let it = 0;
  let inertia = 0;
  try {
    for (it = 0; it < iterations; it++) {
      inertia = await assignStep(xT, cent, k, d, options.blockRows ?? 4096, assign, dist);
      const sums = new Float64Array(k * d);
      const counts = new Int32Array(k);
      for (let i = 0; i < n; i++) {
        const a = assign[i]!;
        counts[a]!++;
        for (let j = 0; j < d; j++) sums[a * d + j]! += data[i * d + j]!;
      }
      let changed = false;
      for (let c = 0; c < k; c++) {
        if (counts[c] === 0) {
          let far = 0;
          for (let i = 1; i < n; i++) if (dist[i]! > dist[far]!) far = i;
          dist[far] = 0;
          cent.set(data.subarray(far * d, far * d + d), c * d);
          changed = true;
          continue;
        }
        for (let j = 0; j < d; j++) {
          const v = sums[c * d + j]! / counts[c]!;
          if (v !== cent[c * d + j]) changed = true;
          cent[c * d + j] = v;
        }
      }
      if (!changed) break;
    }
    inertia = await assignStep(xT, cent, k, d, options.blockRows ?? 4096, assign, dist);
  } finally {
    xT.dispose();
  }
  return { assignments: assign, centroids: cent, inertia, iterations: it };
}

async function assignStep(x: tf.Tensor2D, cent: Float32Array, k: number, d: number, blockRows: number, assign: Int32Array, dist: Float32Array): Promise<number> {
  const n = x.shape[0];
  const cT = tf.tidy(() => tf.transpose(tf.tensor2d(cent, [k, d])));
  const c2 = tf.tidy(() => tf.sum(tf.square(cT), 0));
  let inertia = 0;
  try {
    for (let r0 = 0; r0 < n; r0 += blockRows) {
      const br = Math.min(blockRows, n - r0);
      const [idxT, minT] = tf.tidy(() => {
        const xb = tf.slice(x, [r0, 0], [br, d]);
        const x2 = tf.sum(tf.square(xb), 1, true);
        const dd = tf.add(tf.sub(x2, tf.mul(2, tf.matMul(xb, cT))), c2);
        return [tf.argMin(dd, 1), tf.maximum(tf.min(dd, 1), 0)];
      });
      const ia = (await idxT!.data()) as Int32Array;
      const ma = (await minT!.data()) as Float32Array;
      idxT!.dispose();
      minT!.dispose();
      assign.set(ia, r0);
      dist.set(ma, r0);
      for (let i = 0; i < br; i++) inertia += ma[i]!;
    }
  } finally {
    cT.dispose();
    c2.dispose();
  }
  return inertia;
}

/** Normalised mutual information with arithmetic normalisation (sklearn's default): 2·I(U;V) / (H(U) + H(V)). */
export function normalizedMutualInfo(a: Labels, b: Labels): number {
  if (a.length !== b.length) throw new HierError('E_SHAPE', `normalizedMutualInfo: label arrays differ in length (${a.length} vs ${b.length})`);
  const n = a.length;
  if (n === 0) throw new HierError('E_EMPTY', 'normalizedMutualInfo: no labels');
  const ca = new Map<number, number>();
  const cb = new Map<number, number>();
  const joint = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    ca.set(a[i]!, (ca.get(a[i]!) ?? 0) + 1);
    cb.set(b[i]!, (cb.get(b[i]!) ?? 0) + 1);
    const key = `${a[i]}|${b[i]}`;
    joint.set(key, (joint.get(key) ?? 0) + 1);
  }
  const h = (m: Map<number, number>) => {
    let s = 0;
    for (const c of m.values()) s -= (c / n) * Math.log(c / n);
    return s;
  };
  const ha = h(ca);
  const hb = h(cb);
  // sklearn: both labelings constant (one cluster each) are a perfect match.
  if (ha === 0 && hb === 0) return 1;
  let mi = 0;
  for (const [key, c] of joint) {
    const [sa, sb] = key.split('|');
    const pa = ca.get(Number(sa))! / n;
    const pb = cb.get(Number(sb))! / n;
    mi += (c / n) * Math.log(c / n / (pa * pb));
  }
  const denom = (ha + hb) / 2;
  return denom > 0 ? Math.max(0, Math.min(1, mi / denom)) : 0;
}

/**
 * NMI of k-means clusters (k = number of distinct labels, seeded k-means++) against the labels, as PML reports it.
 * Clusters the embeddings as given (Euclidean), like PML/faiss.
 */
export async function nmiScore(x: MatrixLike | Matrix, labels: Labels, options: { seed?: number; iterations?: number } = {}): Promise<number> {
  const m = await toMatrix(x, 'NMI embeddings');
  if (labels.length !== m.rows) throw new HierError('E_SHAPE', `nmiScore: ${labels.length} labels for ${m.rows} embedding rows`);
  const k = new Set(Array.from(labels)).size;
  const km = await kmeans(m, { k, rng: new Rng(options.seed ?? 0), iterations: options.iterations ?? 20 });
  return normalizedMutualInfo(labels, km.assignments);
}
