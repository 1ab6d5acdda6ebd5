import type { Rng } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';
import { toPoincare } from '@hier-ts/hyperbolic';
import { layerNorm, linear, type Tap } from './layers.js';
import { ParamStore } from './params.js';

export interface HeadConfig {
  inDim: number;
  /** Embedding width (HIER: 128). */
  emb: number;
  /** Curvature; 0 → L2 normalisation instead of the Poincaré map. */
  hypC: number;
  clipR: number;
  /** HIER use_lastnorm: LayerNorm without affine (eps 1e−5) first. */
  lastNorm: boolean;
}

/** `m` × `n` matrix with orthonormal rows (m ≤ n) or columns (m > n), as torch.nn.init.orthogonal_ (gain 1). */
export function orthogonal(m: number, n: number, rng: Rng): Float32Array {
  const rows = Math.min(m, n);
  const cols = Math.max(m, n);
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  // Modified Gram-Schmidt, twice per row for float64 orthogonality at 2048 columns.
  for (let r = 0; r < rows; r++) {
    const row = q.subarray(r * cols, (r + 1) * cols);
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < r; k++) {
        const prev = q.subarray(k * cols, (k + 1) * cols);
        let dot = 0;
        for (let j = 0; j < cols; j++) dot += row[j]! * prev[j]!;
        for (let j = 0; j < cols; j++) row[j] -= dot * prev[j]!;
      }
    let norm = 0;
    for (let j = 0; j < cols; j++) norm += row[j]! * row[j]!;
    norm = Math.sqrt(norm);
    for (let j = 0; j < cols; j++) row[j] /= norm;
  }
  const out = new Float32Array(m * n);
  if (m <= n) out.set(q);
  else for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[j * n + r] = q[r * cols + j]!;
  return out;
}

/** HIER's last_layer: LayerNorm(no affine) → Linear(orthogonal, zero bias) → ToPoincare (or L2 norm when c = 0). */
export class HierHead {
  readonly params: ParamStore;
  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    this.params = new ParamStore(rng, 'head');
    this.params.add('weight', [config.emb, config.inDim], 'linear', 'weight');
    this.params.add('bias', [config.emb], 'plain', 'bias');
    this.params.assignTorch('weight', orthogonal(config.emb, config.inDim, rng));
    this.params.assignTorch('bias', new Float32Array(config.emb));
  }

  forward(features: tf.Tensor2D, tap?: Tap): tf.Tensor2D {
    const { hypC, clipR, lastNorm } = this.config;
    const normed = lastNorm ? (layerNorm(features, 1e-5) as tf.Tensor2D) : features;
    tap?.('head_ln', normed, 'plain');
    const lin = linear(normed, this.params.get('weight'), this.params.get('bias')) as tf.Tensor2D;
    tap?.('head_linear', lin, 'plain');
    if (hypC > 0) return toPoincare(lin, { c: hypC, clipR, riemannian: true });
    return tf.div(lin, tf.maximum(tf.norm(lin, 'euclidean', -1, true), 1e-12));
  }
}
