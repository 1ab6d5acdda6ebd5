/**
 * Augmented inner products (the keys every search ranks by, see knn.ts `augment`) back to the similarity the
 * caller asked for. Shared by the main thread (row search) and the symmetric search's workers, which convert
 * their own rows in parallel during the final sort.
 */
export type ScoreKind = 'key' | 'euclidean' | 'poincare';

/**
 * Rows [r0, r1) of `key` ([*, k]) into `out` (may be `key` itself): 'key' copies (cosine, dot); 'euclidean'
 * −‖x−y‖ from key = −‖x−y‖² + ‖x‖²; 'poincare' −distance from key = −‖x−y‖²/(1−c‖y‖²) in the closed arcosh form.
 * Entries with index −1 become −∞.
 */
export function keysToScoresRows(
  key: Float32Array,
  idx: Int32Array,
  out: Float32Array,
  r0: number,
  r1: number,
  k: number,
  qn2: ArrayLike<number>,
  kind: ScoreKind,
  c: number,
): void {
  const rootC = Math.sqrt(c);
  for (let i = r0; i < r1; i++) {
    const x2 = qn2[i]!;
    for (let j = 0; j < k; j++) {
      const o = i * k + j;
      if (idx[o]! < 0) {
        out[o] = Number.NEGATIVE_INFINITY;
        continue;
      }
      if (kind === 'key') out[o] = key[o]!;
      else if (kind === 'euclidean') out[o] = -Math.sqrt(Math.max(0, x2 - key[o]!));
      else {
        // arcosh(z) = ln(z + √((z−1)(z+1))): ~20 % cheaper than Math.acosh here, same float32 results.
        const s = Math.max(0, -key[o]!);
        const z = 1 + (2 * c * s) / (1 - c * x2);
        out[o] = -Math.log(z + Math.sqrt((z - 1) * (z + 1))) / rootC;
      }
    }
  }
}

export function scoreKindOf(sim: 'poincare' | 'cosine' | 'euclidean' | 'dot'): ScoreKind {
  return sim === 'euclidean' ? 'euclidean' : sim === 'poincare' ? 'poincare' : 'key';
}
