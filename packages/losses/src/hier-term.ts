/**
 * One HIER hinge term (spec §2.6) computed in JavaScript with its analytic gradient.
 *
 * For each triplet (a, p, n) over a distance block C (rows: things being triplet-ed, columns: the N candidate
 * LCAs): M1 = max(C[a], C[p]), ℓ1 = argmax(−M1/τ + g1); M2 = max(C[n], M1), ℓ2 = argmax(−M2/τ + g2) with fresh
 * noise; hinge h = [C[a,ℓ1] − C[a,ℓ2] + δ]₊ + [C[p,ℓ1] − C[p,ℓ2] + δ]₊ + [C[n,ℓ2] − C[n,ℓ1] + δ]₊, masked by ℓ1 ≠ ℓ2;
 * the term is the mean over all T triplets. The gradient reproduces the straight-through hard Gumbel-softmax
 * (softmax temperature 1): the one-hot value routes the hinge gradient to the selected entries, and the soft
 * path sends Σ_x w_x·C[x,·] through the softmax Jacobian, −1/τ, and the two maxima (split 50/50 at exact ties,
 * like torch.maximum).
 *
 * Cost: one pass over the rows of C per triplet instead of the several [T, N] tensors of the autograd
 * formulation. Noise is bounded (lo <= g <= hi), so it is evaluated only for candidates that can still win the
 * arg-max (z_l + hi >= max z + lo) and, for triplets with a non-zero gradient, for entries whose softmax weight
 * can exceed e^−40 of the winner's; the rest contribute below float32 resolution.
 */
import type { GumbelStream } from './gumbel.js';

export interface TermTriplets {
  anchor: Int32Array;
  positive: Int32Array;
  negative: Int32Array;
}

export interface TermResult {
  /** Mean hinge over all triplets (0 when there are none). */
  loss: number;
  /** d loss / d C, row-major [rows, cols] (null when not requested). */
  grad: Float32Array | null;
  /** Chosen pair LCA (ℓ1) and triplet LCA (ℓ2) per triplet. */
  pairLca: Int32Array;
  tripletLca: Int32Array;
  /** Triplets with ℓ1 ≠ ℓ2 and a positive hinge. */
  active: number;
}

/** Softmax weights below e^−40 of the winner's are dropped (far below float32 resolution). */
const SOFTMAX_CUTOFF = 40;

/**
 * Arg-max of z + g over l (first index on ties) evaluating g only where it can matter; noise values that were
 * evaluated are cached in `gv` with `stamp` marking validity for this triplet.
 */
function noisyArgmax(z: Float64Array, zmax: number, g: GumbelStream, t: number, gv: Float64Array, seen: Int32Array, mark: number): [number, number] {
  const floor = zmax + g.lo - g.hi;
  let best = Number.NEGATIVE_INFINITY;
  let arg = 0;
  for (let l = 0; l < z.length; l++) {
    if (z[l] < floor) continue;
    const noise = g.at(t, l);
    gv[l] = noise;
    seen[l] = mark;
    const v = z[l] + noise;
    if (v > best) {
      best = v;
      arg = l;
    }
  }
  return [arg, best];
}

/** Softmax of z + g at temperature 1, in place into `s`, dropping weights below e^−40 of the winner. */
function noisySoftmax(z: Float64Array, best: number, g: GumbelStream, t: number, gv: Float64Array, seen: Int32Array, mark: number, s: Float64Array): void {
  const floor = best - SOFTMAX_CUTOFF - g.hi;
  let sum = 0;
  for (let l = 0; l < z.length; l++) {
    if (z[l] < floor) {
      s[l] = 0;
      continue;
    }
    const noise = seen[l] === mark ? gv[l] : g.at(t, l);
    const e = Math.exp(z[l] + noise - best);
    s[l] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let l = 0; l < z.length; l++) s[l] *= inv;
}

export function hierTerm(
  C: ArrayLike<number>,
  rows: number,
  cols: number,
  triplets: TermTriplets,
  noisePair: GumbelStream,
  noiseTriplet: GumbelStream,
  tau: number,
  margin: number,
  needGrad: boolean,
): TermResult {
  const T = triplets.anchor.length;
  const pairLca = new Int32Array(T);
  const tripletLca = new Int32Array(T);
  const G = needGrad ? new Float64Array(rows * cols) : null;
  const m1 = new Float64Array(cols);
  const z1 = new Float64Array(cols);
  const z2 = new Float64Array(cols);
  const s1 = new Float64Array(cols);
  const s2 = new Float64Array(cols);
  const q = new Float64Array(cols);
  const gv1 = new Float64Array(cols);
  const gv2 = new Float64Array(cols);
  const seen1 = new Int32Array(cols).fill(-1);
  const seen2 = new Int32Array(cols).fill(-1);
  const invTau = 1 / tau;
  let total = 0;
  let active = 0;
  for (let t = 0; t < T; t++) {
    const oa = triplets.anchor[t] * cols;
    const op = triplets.positive[t] * cols;
    const on = triplets.negative[t] * cols;
    let zmax1 = Number.NEGATIVE_INFINITY;
    let zmax2 = Number.NEGATIVE_INFINITY;
    for (let l = 0; l < cols; l++) {
      const ca = C[oa + l];
      const cp = C[op + l];
      const cn = C[on + l];
      const m = ca >= cp ? ca : cp;
      m1[l] = m;
      const a = -m * invTau;
      const b = -(cn >= m ? cn : m) * invTau;
      z1[l] = a;
      z2[l] = b;
      if (a > zmax1) zmax1 = a;
      if (b > zmax2) zmax2 = b;
    }
    const [l1, best1] = noisyArgmax(z1, zmax1, noisePair, t, gv1, seen1, t);
    const [l2, best2] = noisyArgmax(z2, zmax2, noiseTriplet, t, gv2, seen2, t);
    pairLca[t] = l1;
    tripletLca[t] = l2;
    if (l1 === l2) continue;
    const ha = C[oa + l1] - C[oa + l2] + margin;
    const hp = C[op + l1] - C[op + l2] + margin;
    const hn = C[on + l2] - C[on + l1] + margin;
    const wa = ha > 0 ? 1 : 0;
    const wp = hp > 0 ? 1 : 0;
    const wn = hn > 0 ? 1 : 0;
    if (wa + wp + wn === 0) continue;
    active++;
    total += wa * ha + wp * hp + wn * hn;
    if (!G) continue;
    // Direct path: the one-hot value of e1/e2 selects C[x, ℓ].
    G[oa + l1] += wa;
    G[oa + l2] -= wa;
    G[op + l1] += wp;
    G[op + l2] -= wp;
    G[on + l1] -= wn;
    G[on + l2] += wn;
    // Soft path: d/de1_l = q_l = wa·C[a,l] + wp·C[p,l] − wn·C[n,l] and d/de2_l = −q_l; softmax Jacobian, then −1/τ.
    noisySoftmax(z1, best1, noisePair, t, gv1, seen1, t, s1);
    noisySoftmax(z2, best2, noiseTriplet, t, gv2, seen2, t, s2);
    let dot1 = 0;
    let dot2 = 0;
    for (let l = 0; l < cols; l++) {
      if (s1[l] === 0 && s2[l] === 0) continue;
      const v = wa * C[oa + l] + wp * C[op + l] - wn * C[on + l];
      q[l] = v;
      dot1 += s1[l] * v;
      dot2 -= s2[l] * v;
    }
    for (let l = 0; l < cols; l++) {
      if (s1[l] === 0 && s2[l] === 0) continue;
      const gradM1 = -(s1[l] * (q[l] - dot1)) * invTau;
      const gradM2 = -(s2[l] * (-q[l] - dot2)) * invTau;
      // M2 = max(C[n], M1)
      const cn = C[on + l];
      let toM1 = gradM1;
      if (cn > m1[l]) G[on + l] += gradM2;
      else if (cn < m1[l]) toM1 += gradM2;
      else {
        G[on + l] += 0.5 * gradM2;
        toM1 += 0.5 * gradM2;
      }
      // M1 = max(C[a], C[p])
      const ca = C[oa + l];
      const cp = C[op + l];
      if (ca > cp) G[oa + l] += toM1;
      else if (ca < cp) G[op + l] += toM1;
      else {
        G[oa + l] += 0.5 * toM1;
        G[op + l] += 0.5 * toM1;
      }
    }
  }
  let grad: Float32Array | null = null;
  if (G) {
    grad = new Float32Array(rows * cols);
    if (T > 0) for (let i = 0; i < G.length; i++) grad[i] = G[i] / T;
  }
  return { loss: T > 0 ? total / T : 0, grad, pairLca, tripletLca, active };
}
