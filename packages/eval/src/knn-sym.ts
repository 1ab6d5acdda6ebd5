/**
 * Leave-one-out kNN that exploits the symmetry of the inner-product matrix: the gallery is the query set, so the
 * tile X_I·X_Jᵀ serves rows I (against columns J) and, transposed, rows J (against columns I). Only tiles with
 * I ≤ J are multiplied, halving the matmul work. The per-row top-k state lives in shared memory; the parent
 * schedules tiles so two threads never hold the same row block at once, so no locks are needed.
 * Keys are those of knn.ts `augment`, computed from g = ⟨x_i, x_j⟩ and the squared norms (RowTopK.pushSymRow).
 */
import { tf } from '@hier-ts/engine';
import { RowTopK, type TopKState } from './topk.js';

export interface SymShared {
  x: Float32Array;
  n: number;
  d: number;
  tile: number;
  k: number;
  x2: Float32Array;
  /** Key kind for `RowTopK.pushSymRow`: 0 cosine/dot (inner product of the stored rows), 1 euclidean, 2 Poincaré. */
  kind: 0 | 1 | 2;
  /** Poincaré weights 1/(1 − c‖x‖²) (ones otherwise). */
  wBall: Float32Array;
  state: TopKState;
  /**
   * Threshold guessing (`RowTopK.guess`) after a row's first tile: the guessed rank is e + σ·√e + 1 with e = k·seen/(n−1)
   * the expected number of final top-k items among the seen scores; null = off. Rows where it fails are re-searched.
   */
  guessSigmas: number | null;
  outIdx: Int32Array;
  outKey: Float32Array;
}

export class SymWorker {
  private readonly s: SymShared;
  private readonly rowsT: tf.Tensor2D[] = [];
  private readonly colsT: tf.Tensor2D[] = [];
  private readonly acc: RowTopK;
  /** Seconds spent in matMul + read-back, in offering scores to the top-k, and in the final sort. */
  readonly profile = { matmul: 0, select: 0, finish: 0, retried: 0 };

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
    const diagonal = I === J;
    for (let r = 0; r < h; r++) {
      const row = r0 + r;
      // A diagonal tile holds both orientations already, so only its rows are fed (self skipped).
      this.acc.pushSymRow(g, r * w, w, c0, row, diagonal ? row : -1, !diagonal, s.kind, s.x2, s.wBall);
    }
    const guess = s.state.guess;
    if (guess && s.guessSigmas !== null) {
      const rankRows = this.guessRank(diagonal ? w - 1 : w);
      for (let r = r0; r < r0 + h; r++) if (Number.isNaN(guess[r]!)) this.acc.guess(r, rankRows);
      if (!diagonal) {
        const rankCols = this.guessRank(h);
        for (let j = c0; j < c0 + w; j++) if (Number.isNaN(guess[j]!)) this.acc.guess(j, rankCols);
      }
    }
    this.profile.select += (performance.now() - t1) / 1000;
  }

  private guessRank(seen: number): number {
    const e = (this.s.k * seen) / Math.max(1, this.s.n - 1);
    return Math.ceil(e + this.s.guessSigmas! * Math.sqrt(e) + 1);
  }

  /** Sorts rows [r0, r1) into the shared output, first re-searching rows whose guessed threshold was too high. */
  async finish(r0: number, r1: number): Promise<void> {
    const t0 = performance.now();
    const k = this.s.k;
    const failed: number[] = [];
    for (let r = r0; r < r1; r++) if (!this.acc.guessHeld(r)) failed.push(r);
    for (let f0 = 0; f0 < failed.length; f0 += 256) await this.research(failed.slice(f0, f0 + 256));
    this.profile.retried += failed.length;
    for (let r = r0; r < r1; r++) this.acc.finish(r, this.s.outIdx, this.s.outKey, r * k);
    this.profile.finish += (performance.now() - t0) / 1000;
  }

  /** Searches the given rows again against every column, without a guess (rare: the guess is ~4σ safe). */
  private async research(rows: number[]): Promise<void> {
    const s = this.s;
    const q = new Float32Array(rows.length * s.d);
    rows.forEach((r, i) => {
      this.acc.reset(r);
      q.set(s.x.subarray(r * s.d, (r + 1) * s.d), i * s.d);
    });
    const qt = tf.tensor2d(q, [rows.length, s.d]);
    try {
      for (let J = 0; J < this.colsT.length; J++) {
        const w = this.colsT[J]!.shape[1];
        const prod = tf.matMul(qt, this.colsT[J]!);
        let g: Float32Array;
        try {
          g = (await prod.data()) as Float32Array;
        } finally {
          prod.dispose();
        }
        for (let i = 0; i < rows.length; i++) {
          const r = rows[i]!;
          this.acc.pushSymRow(g, i * w, w, J * s.tile, r, r, false, s.kind, s.x2, s.wBall);
        }
      }
    } finally {
      qt.dispose();
    }
  }

  dispose(): void {
    for (const t of this.rowsT) t.dispose();
    for (const t of this.colsT) t.dispose();
  }
}
