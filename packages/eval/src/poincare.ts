/**
 * The few Poincaré-ball formulas evaluation needs, on plain numbers (float64 accumulation), so that metrics,
 * pictures and the hierarchy work without tensors. Curvature magnitude c > 0; ball radius 1/√c.
 */

function artanh(t: number): number {
  // Same clamp as the official artanh (spec §1.1); never active for HIER's clipped embeddings.
  const x = Math.min(Math.max(t, -1 + 1e-5), 1 - 1e-5);
  return 0.5 * (Math.log1p(x) - Math.log1p(-x));
}

/** Exact geodesic distance (closed arcosh form, no Möbius 1e−5 epsilon). */
export function poincareDistance(x: ArrayLike<number>, xo: number, y: ArrayLike<number>, yo: number, dim: number, c: number): number {
  let x2 = 0;
  let y2 = 0;
  let d2 = 0;
  for (let j = 0; j < dim; j++) {
    const a = x[xo + j]!;
    const b = y[yo + j]!;
    x2 += a * a;
    y2 += b * b;
    d2 += (a - b) * (a - b);
  }
  const denom = Math.max((1 - c * x2) * (1 - c * y2), 1e-15);
  const arg = 1 + (2 * c * d2) / denom;
  return Math.acosh(Math.max(arg, 1)) / Math.sqrt(c);
}

/** Distance from the origin, (2/√c)·artanh(√c‖x‖). */
export function distToOrigin(norm: number, c: number): number {
  return (2 / Math.sqrt(c)) * artanh(Math.sqrt(c) * norm);
}

/** logmap0 of one row: tangent vector at the origin. */
export function logmap0Row(x: ArrayLike<number>, xo: number, dim: number, c: number, out: Float64Array): void {
  let n2 = 0;
  for (let j = 0; j < dim; j++) n2 += x[xo + j]! * x[xo + j]!;
  const n = Math.max(Math.sqrt(n2), 1e-5);
  const s = artanh(Math.sqrt(c) * n) / (n * Math.sqrt(c));
  for (let j = 0; j < dim; j++) out[j] = x[xo + j]! * s;
}

/** expmap0 of a tangent vector (float64 in and out). */
export function expmap0Vec(u: ArrayLike<number>, c: number, out: Float64Array): void {
  let n2 = 0;
  for (let j = 0; j < u.length; j++) n2 += u[j]! * u[j]!;
  const n = Math.max(Math.sqrt(n2), 1e-5);
  const s = Math.tanh(Math.min(Math.sqrt(c) * n, 15)) / (Math.sqrt(c) * n);
  for (let j = 0; j < u.length; j++) out[j] = u[j]! * s;
}
