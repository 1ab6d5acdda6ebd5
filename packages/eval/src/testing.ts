import type { Rng } from '@hier-ts/core';

/** Random rows of a given norm range (test and benchmark helper; seeded). */
export function randomMatrix(rng: Rng, rows: number, dim: number, scale = 1): Float32Array {
  const a = new Float32Array(rows * dim);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Random points strictly inside the Poincaré ball of curvature c (norms up to `maxFrac` of the radius). */
export function randomBallPoints(rng: Rng, rows: number, dim: number, c: number, maxFrac = 0.7): Float32Array {
  const a = randomMatrix(rng, rows, dim);
  for (let i = 0; i < rows; i++) {
    let n = 0;
    for (let j = 0; j < dim; j++) n += a[i * dim + j]! ** 2;
    const target = (rng.uniform(0.05, maxFrac) / Math.sqrt(c)) / Math.sqrt(n);
    for (let j = 0; j < dim; j++) a[i * dim + j]! *= target;
  }
  return a;
}
