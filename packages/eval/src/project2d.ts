import { HierError, Rng } from '@hier-ts/core';
import { UMAP } from 'umap-js';
import type { Matrix } from './matrix.js';
import { logmap0Row } from './poincare.js';

/**
 * 2-D layouts for pictures.
 * - 'pca' (default): rows go to the tangent space at the origin (logmap0), an *uncentred* PCA (the origin must stay
 *   the origin: it is the root of the hierarchy) gives each point a direction, and the radius in the unit disk is the
 *   point's true ball radius √c·‖x‖. So depth (norm, the signal HIER trains) is exact and only angles are projected.
 * - 'pca-linear': the plain tangent-space projection mapped back with expmap0 (radii shrink with the variance the
 *   two components miss).
 * - 'umap': umap-js on the tangent vectors (seeded) for the direction, true radius as above.
 * For Euclidean embeddings (c = 0) the radius rule is dropped: 'pca' and 'umap' return plain 2-D coordinates.
 */
export type Projection = 'pca' | 'pca-linear' | 'umap';

export interface Layout2D {
  /** [n, 2] coordinates; inside the unit disk when c > 0. */
  xy: Float64Array;
  projection: Projection;
  /** Share of the tangent-space second moment the two PCA axes capture (PCA only). */
  explained?: number;
}

function tangent(m: Matrix, c: number): Float64Array {
  const out = new Float64Array(m.rows * m.dim);
  const row = new Float64Array(m.dim);
  for (let i = 0; i < m.rows; i++) {
    if (c > 0) logmap0Row(m.data, i * m.dim, m.dim, c, row);
    else for (let j = 0; j < m.dim; j++) row[j] = m.data[i * m.dim + j]!;
    out.set(row, i * m.dim);
  }
  return out;
}

/** Top-2 eigenvectors of VᵀV/n by power iteration with deflation (no d×d matrix is formed). */
function pcaAxes(v: Float64Array, n: number, d: number, rng: Rng): { axes: Float64Array[]; explained: number } {
  const axes: Float64Array[] = [];
  let total = 0;
  for (let i = 0; i < v.length; i++) total += v[i]! * v[i]!;
  let captured = 0;
  for (let a = 0; a < Math.min(2, d); a++) {
    let w = Float64Array.from({ length: d }, () => rng.normal());
    let lambda = 0;
    for (let it = 0; it < 100; it++) {
      for (const prev of axes) {
        let p = 0;
        for (let j = 0; j < d; j++) p += w[j]! * prev[j]!;
        for (let j = 0; j < d; j++) w[j]! -= p * prev[j]!;
      }
      const next = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += v[i * d + j]! * w[j]!;
        for (let j = 0; j < d; j++) next[j]! += s * v[i * d + j]!;
      }
      for (const prev of axes) {
        let p = 0;
        for (let j = 0; j < d; j++) p += next[j]! * prev[j]!;
        for (let j = 0; j < d; j++) next[j]! -= p * prev[j]!;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += next[j]! * next[j]!;
      norm = Math.sqrt(norm);
      if (norm === 0) break;
      for (let j = 0; j < d; j++) next[j]! /= norm;
      let delta = 0;
      for (let j = 0; j < d; j++) delta += Math.abs(next[j]! - w[j]!);
      w = next;
      lambda = norm;
      if (delta < 1e-9) break;
    }
    axes.push(w);
    captured += lambda;
  }
  if (axes.length === 1) axes.push(new Float64Array(d));
  return { axes, explained: total > 0 ? captured / total : 0 };
}

/**
 * Lays out all rows of `m` in 2-D (fit on at most `fitRows` seeded rows; every row is then mapped). Fit samples and
 * proxies together (concatenate them) so they share one layout.
 */
export function layout2d(m: Matrix, c: number, projection: Projection = 'pca', options: { seed?: number; fitRows?: number } = {}): Layout2D {
  if (m.rows === 0) throw new HierError('E_EMPTY', 'layout2d: no rows to lay out');
  const rng = new Rng(options.seed ?? 0);
  const d = m.dim;
  const t = tangent(m, c);
  const xy = new Float64Array(m.rows * 2);
  const radiusOf = (i: number) => {
    let n2 = 0;
    for (let j = 0; j < d; j++) n2 += m.data[i * d + j]! ** 2;
    return Math.sqrt(c * n2);
  };
  if (projection === 'umap') {
    const fitN = Math.min(m.rows, options.fitRows ?? 3000);
    if (fitN < m.rows) {
      throw new HierError('E_ARG', `layout2d: 'umap' lays out every row; subsample to ≤ ${fitN} rows first (got ${m.rows})`);
    }
    const rows: number[][] = [];
    for (let i = 0; i < m.rows; i++) rows.push(Array.from(t.subarray(i * d, i * d + d)));
    const umap = new UMAP({ nComponents: 2, nNeighbors: Math.max(2, Math.min(15, m.rows - 1)), minDist: 0.1, random: () => rng.next() });
    const emb = umap.fit(rows);
    let cx = 0;
    let cy = 0;
    for (const p of emb) {
      cx += p[0]! / emb.length;
      cy += p[1]! / emb.length;
    }
    let maxR = 0;
    emb.forEach((p, i) => {
      const x = p[0]! - cx;
      const y = p[1]! - cy;
      xy[2 * i] = x;
      xy[2 * i + 1] = y;
      maxR = Math.max(maxR, Math.hypot(x, y));
    });
    for (let i = 0; i < m.rows; i++) {
      const x = xy[2 * i]!;
      const y = xy[2 * i + 1]!;
      const r = Math.hypot(x, y);
      if (c > 0) {
        const s = r > 0 ? radiusOf(i) / r : 0;
        xy[2 * i] = x * s;
        xy[2 * i + 1] = y * s;
      } else if (maxR > 0) {
        xy[2 * i] = x / maxR;
        xy[2 * i + 1] = y / maxR;
      }
    }
    return { xy, projection };
  }
  const fitN = Math.min(m.rows, options.fitRows ?? 5000);
  let fit = t;
  if (fitN < m.rows) {
    const pick = rng.sampleWithoutReplacement(m.rows, fitN);
    fit = new Float64Array(fitN * d);
    pick.forEach((r, i) => {
      fit.set(t.subarray(r * d, r * d + d), i * d);
    });
  }
  const { axes, explained } = pcaAxes(fit, fitN, d, rng);
  let maxR = 0;
  for (let i = 0; i < m.rows; i++) {
    let x = 0;
    let y = 0;
    for (let j = 0; j < d; j++) {
      x += t[i * d + j]! * axes[0]![j]!;
      y += t[i * d + j]! * axes[1]![j]!;
    }
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
    maxR = Math.max(maxR, Math.hypot(x, y));
  }
  for (let i = 0; i < m.rows; i++) {
    const x = xy[2 * i]!;
    const y = xy[2 * i + 1]!;
    const r = Math.hypot(x, y);
    let s: number;
    if (c <= 0) s = maxR > 0 ? 1 / maxR : 0;
    else if (projection === 'pca-linear') s = r > 0 ? Math.tanh(Math.sqrt(c) * r) / r : 0;
    else s = r > 0 ? radiusOf(i) / r : 0;
    xy[2 * i] = x * s;
    xy[2 * i + 1] = y * s;
  }
  return { xy, projection, explained };
}
