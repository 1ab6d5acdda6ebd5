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
 * formulation, and no exponential per element: with W = e^{−(C − c_min)/τ} precomputed per row of C,
 * e^{−M1/τ} ∝ min(W[a], W[p]) (max of distances = min of their exponentials) and e^{z+g} = e^{z}/E with E = e^{−g}
 * the noise's Exp(1) variate. The arg-max and the softmax then need one logarithm (inside the noise) and one
 * division per entry. When C spans more than 600·τ (never in HIER, where distances are ≤ 2·artanh(1 − 1e−5)/√c)
 * the weights are taken per triplet relative to its own minimum instead, which costs one exponential per entry.
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
  // One spare slot at the end: backwardRow's sink for writes it discards.
  const G = needGrad ? new Float64Array(rows * cols + 1) : null;
  const s1 = new Float64Array(cols);
  const s2 = new Float64Array(cols);
  const q = new Float64Array(cols);
  const e1 = new Float64Array(cols).fill(1);
  const e2 = new Float64Array(cols).fill(1);
  const row = new Float64Array(6);
  const invTau = 1 / tau;
  let cmin = Number.POSITIVE_INFINITY;
  let cmax = Number.NEGATIVE_INFINITY;
  let nan = false;
  for (let i = 0; i < rows * cols; i++) {
    const v = C[i];
    if (v < cmin) cmin = v;
    if (v > cmax) cmax = v;
    if (Number.isNaN(v)) nan = true;
  }
  // NaN entries take the general path, whose Math.max keeps NaN where forwardRow's index selection would not.
  const fast = T > 0 && !nan && (cmax - cmin) * invTau <= 600;
  let W: Float64Array | null = null;
  if (fast) {
    W = new Float64Array(rows * cols);
    for (let i = 0; i < W.length; i++) W[i] = Math.exp(-(C[i] - cmin) * invTau);
  }
  const pairZero = noisePair.zero;
  const tripletZero = noiseTriplet.zero;
  let total = 0;
  let active = 0;
  for (let t = 0; t < T; t++) {
    const oa = triplets.anchor[t] * cols;
    const op = triplets.positive[t] * cols;
    const on = triplets.negative[t] * cols;
    // s1/s2 receive the unnormalised noisy weights e^{z + g − const}; the arg-max is the first maximum.
    if (!pairZero) noisePair.fillExpNeg(t, e1);
    if (!tripletZero) noiseTriplet.fillExpNeg(t, e2);
    let l1 = 0;
    let best1 = -1;
    let sum1 = 0;
    let l2 = 0;
    let best2 = -1;
    let sum2 = 0;
    if (W) {
      forwardRow(W, oa, op, on, e1, e2, s1, s2, cols, row);
      l1 = row[0];
      best1 = row[1];
      sum1 = row[2];
      l2 = row[3];
      best2 = row[4];
      sum2 = row[5];
    } else {
      let mmin1 = Number.POSITIVE_INFINITY;
      let mmin2 = Number.POSITIVE_INFINITY;
      for (let l = 0; l < cols; l++) {
        const m = Math.max(C[oa + l], C[op + l]);
        const m2 = Math.max(C[on + l], m);
        s1[l] = m;
        s2[l] = m2;
        if (m < mmin1) mmin1 = m;
        if (m2 < mmin2) mmin2 = m2;
      }
      for (let l = 0; l < cols; l++) {
        const r1 = Math.exp(-(s1[l] - mmin1) * invTau) / e1[l];
        const r2 = Math.exp(-(s2[l] - mmin2) * invTau) / e2[l];
        s1[l] = r1;
        s2[l] = r2;
        sum1 += r1;
        sum2 += r2;
        if (r1 > best1) {
          best1 = r1;
          l1 = l;
        }
        if (r2 > best2) {
          best2 = r2;
          l2 = l;
        }
      }
    }
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
    // Soft path (backwardRow).
    const inv1 = 1 / sum1;
    const inv2 = 1 / sum2;
    backwardRow(C, G, oa, op, on, wa, wp, wn, s1, s2, q, inv1, inv2, best1 * 1e-18, best2 * 1e-18, invTau, cols, !nan);
  }
  let grad: Float32Array | null = null;
  if (G) {
    grad = new Float32Array(rows * cols);
    if (T > 0) for (let i = 0; i < rows * cols; i++) grad[i] = G[i] / T;
  }
  return { loss: T > 0 ? total / T : 0, grad, pairLca, tripletLca, active };
}

// The per-row sweeps live in small functions of their own: V8 optimises them once, with stable typed-array
// feedback, instead of re-optimising (on-stack) the whole triplet loop after each deoptimisation.

/** Noisy weights of one triplet: s1/s2 ← e^{z+g−const}; out ← [ℓ1, best1, Σ1, ℓ2, best2, Σ2] (first maxima). */
function forwardRow(
  W: Float64Array,
  oa: number,
  op: number,
  on: number,
  e1: Float64Array,
  e2: Float64Array,
  s1: Float64Array,
  s2: Float64Array,
  cols: number,
  out: Float64Array,
): void {
  let l1 = 0;
  let best1 = -1;
  let sum1 = 0;
  let l2 = 0;
  let best2 = -1;
  let sum2 = 0;
  const dpa = op - oa;
  for (let l = 0; l < cols; l++) {
    const wa = W[oa + l];
    const wp = W[op + l];
    const wn = W[on + l];
    // min(W[a,l], W[p,l]) then min(W[n,l], ·) by index arithmetic on the comparison bits: Math.min compiles to
    // branches that mispredict half the time here. Same values (ties pick equal values; W has no NaN).
    const ia = oa + l + dpa * +(wp < wa);
    const m = W[ia];
    const r1 = m / e1[l];
    const r2 = W[ia + (on + l - ia) * +(wn < m)] / e2[l];
    s1[l] = r1;
    s2[l] = r2;
    sum1 += r1;
    sum2 += r2;
    if (r1 > best1) {
      best1 = r1;
      l1 = l;
    }
    if (r2 > best2) {
      best2 = r2;
      l2 = l;
    }
  }
  out[0] = l1;
  out[1] = best1;
  out[2] = sum1;
  out[3] = l2;
  out[4] = best2;
  out[5] = sum2;
}

/**
 * Soft path of one active triplet: d/de1_l = q_l = wa·C[a,l] + wp·C[p,l] − wn·C[n,l] and d/de2_l = −q_l; softmax
 * Jacobian, then −1/τ, routed through the two maxima into G (length rows·cols + 1). `clean`: C has no NaN. Entries whose softmax weight is below 1e−18 of the
 * winner's in both streams (thr1, thr2) change nothing in float32.
 */
/** [0, scratch]: adds either 0 or the scratch value without a branch. */
const PICK = new Float64Array(2);

function backwardRow(
  C: ArrayLike<number>,
  G: Float64Array,
  oa: number,
  op: number,
  on: number,
  wa: number,
  wp: number,
  wn: number,
  s1: Float64Array,
  s2: Float64Array,
  q: Float64Array,
  inv1: number,
  inv2: number,
  thr1: number,
  thr2: number,
  invTau: number,
  cols: number,
  clean: boolean,
): void {
  let dot1 = 0;
  let dot2 = 0;
  for (let l = 0; l < cols; l++) {
    if (s1[l] < thr1 && s2[l] < thr2) continue;
    const v = wa * C[oa + l] + wp * C[op + l] - wn * C[on + l];
    q[l] = v;
    dot1 += s1[l] * v;
    dot2 -= s2[l] * v;
  }
  dot1 *= inv1;
  dot2 *= inv2;
  const dao = oa - op;
  const sink = G.length - 1;
  const pick = PICK;
  for (let l = 0; l < cols; l++) {
    if (s1[l] < thr1 && s2[l] < thr2) continue;
    const gradM1 = -(s1[l] * inv1 * (q[l] - dot1)) * invTau;
    const gradM2 = -(s2[l] * inv2 * (-q[l] - dot2)) * invTau;
    // M2 = max(C[n], M1)
    const cn = C[on + l];
    const ca = C[oa + l];
    const cp = C[op + l];
    if (clean && ca !== cp) {
      // Without ties or NaN, the routing below is chosen by index arithmetic on the comparison bits instead of
      // branches that mispredict about half the time; G[sink] (past the block) absorbs the unused write.
      const iM1 = op + l + dao * +(ca > cp);
      const m1 = C[iM1];
      if (cn !== m1) {
        const nGt = +(cn > m1);
        G[sink + (on + l - sink) * nGt] += gradM2;
        pick[1] = gradM2;
        G[iM1] += gradM1 + pick[1 - nGt];
        continue;
      }
    }
    const m1 = Math.max(ca, cp);
    let toM1 = gradM1;
    if (cn > m1) G[on + l] += gradM2;
    else if (cn < m1) toM1 += gradM2;
    else {
      G[on + l] += 0.5 * gradM2;
      toM1 += 0.5 * gradM2;
    }
    // M1 = max(C[a], C[p])
    if (ca > cp) G[oa + l] += toM1;
    else if (ca < cp) G[op + l] += toM1;
    else {
      G[oa + l] += 0.5 * toM1;
      G[op + l] += 0.5 * toM1;
    }
  }
}
