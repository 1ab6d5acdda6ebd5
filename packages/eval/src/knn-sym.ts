/**
 * Leave-one-out kNN that exploits the symmetry of the inner-product matrix: the gallery is the query set, so the
 * tile X_I·X_Jᵀ serves rows I (against columns J) and, transposed, rows J (against columns I). Only tiles with
 * I ≤ J are multiplied, halving the matmul work. The per-row top-k state lives in shared memory; the parent
 * schedules tiles so two threads never hold the same row block at once, so no locks are needed.
 * Every similarity is key_ij = alpha_j·⟨x_i, x_j⟩ + beta_j + gamma_j·‖x_i‖² (see knn.ts).
 */
import { tf } from '@hier-ts/engine';
import { RowTopK, type TopKState } from './topk.js';

export interface SymShared {
  x: Float32Array;
  n: number;
  d: number;
  tile: number;
  k: number;
  alpha: Float32Array;
  beta: Float32Array;
  gamma: Float32Array;
  x2: Float32Array;
  /** True when alpha ≡ 1 and beta ≡ gamma ≡ 0 (cosine, dot): the plain, faster push is used. */
  plain: boolean;
  state: TopKState;
  outIdx: Int32Array;
  outKey: Float32Array;
}

export class SymWorker {
  private readonly s: SymShared;
  private readonly rowsT: tf.Tensor2D[] = [];
  private readonly colsT: tf.Tensor2D[] = [];
  private readonly acc: RowTopK;
  /** Seconds spent in matMul + read-back, in offering scores to the top-k, and in the final sort. */
  readonly profile = { matmul: 0, select: 0, finish: 0 };

  constructor(s: SymShared) {
    this.s = s;
    this.acc = new RowTopK(s.n, s.k, s.state);
    for (let r0 = 0; r0 < s.n; r0 += s.tile) {
      const w = Math.min(s.tile, s.n - r0);
      const rows = s.x.slice(r0 * s.d, (r0 + w) * s.d);
      this.rowsT.push(tf.tensor2d(rows, [w, s.d]));
      const t = new Float32Array(s.d * w);
      for (let j = 0; j < w; j++) for (let a = 0; a < s.d; a++) t[a * w + j] = rows[j * s.d + a]!;
      this.colsT.push(tf.tensor2d(t, [s.d, w]));
    }
  }

  get blocks(): number {
    return this.rowsT.length;
  }

  private pushRows(g: Float32Array, rows: number, cols: number, r0: number, c0: number, diagonal: boolean): void {
    const s = this.s;
    for (let r = 0; r < rows; r++) {
      const row = r0 + r;
      const skip = diagonal ? row : -1;
      if (s.plain) this.acc.push(row, g, r * cols, cols, c0, skip);
      else this.acc.pushAffine(row, g, r * cols, cols, c0, skip, s.alpha, s.beta, s.gamma, s.x2[row]!);
    }
  }

  /** Multiplies tile (I, J), I ≤ J, and offers it to rows I and (transposed) rows J. */
  async tile(I: number, J: number): Promise<void> {
    const s = this.s;
    const r0 = I * s.tile;
    const c0 = J * s.tile;
    const h = this.rowsT[I]!.shape[0];
    const w = this.colsT[J]!.shape[1];
    const t0 = performance.now();
    const prod = tf.matMul(this.rowsT[I]!, this.colsT[J]!);
    let g: Float32Array;
    try {
      g = (await prod.data()) as Float32Array;
    } finally {
      prod.dispose();
    }
    const t1 = performance.now();
    this.profile.matmul += (t1 - t0) / 1000;
    this.pushRows(g, h, w, r0, c0, I === J);
    if (I !== J) {
      // Rows of J see column i of the tile as their score against row i: offered in the same row-major sweep
      // (each target row checks its own threshold), so the tile is never transposed.
      for (let r = 0; r < h; r++) {
        const i = r0 + r;
        this.acc.pushColumns(g, r * w, w, c0, i, s.alpha[i]!, s.beta[i]!, s.gamma[i]!, s.x2);
      }
    }
    this.profile.select += (performance.now() - t1) / 1000;
  }

  /** Sorts rows [r0, r1) into the shared output. */
  finish(r0: number, r1: number): void {
    const t0 = performance.now();
    const k = this.s.k;
    for (let r = r0; r < r1; r++) this.acc.finish(r, this.s.outIdx, this.s.outKey, r * k);
    this.profile.finish += (performance.now() - t0) / 1000;
  }

  dispose(): void {
    for (const t of this.rowsT) t.dispose();
    for (const t of this.colsT) t.dispose();
  }
}
