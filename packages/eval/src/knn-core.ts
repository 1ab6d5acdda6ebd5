/**
 * The part of exact kNN that runs both in the main thread and inside worker threads: the matmul over gallery
 * column blocks (on whatever tfjs backend is active) and the streaming per-row top-k. Every similarity is turned
 * into one inner product of augmented vectors (see `augment` in knn.ts), so a block of scores is exactly one matMul.
 */
import { tf } from '@hier-ts/engine';
import { RowTopK } from './topk.js';

/** Gallery as transposed column blocks [da, width], kept on the backend for the whole search. */
export class GalleryBlocks {
  readonly blocks: tf.Tensor2D[] = [];
  readonly starts: number[] = [];
  readonly widths: number[] = [];
  readonly rows: number;

  /** `ga` is row-major [m, da]. The transpose is done here once because transposed matMul is ~10× slower on wasm. */
  constructor(ga: Float32Array, m: number, da: number, blockCols: number) {
    this.rows = m;
    for (let c0 = 0; c0 < m; c0 += blockCols) {
      const w = Math.min(blockCols, m - c0);
      const t = new Float32Array(da * w);
      for (let j = 0; j < w; j++) {
        const src = (c0 + j) * da;
        for (let a = 0; a < da; a++) t[a * w + j] = ga[src + a]!;
      }
      this.blocks.push(tf.tensor2d(t, [da, w]));
      this.starts.push(c0);
      this.widths.push(w);
    }
  }

  dispose(): void {
    for (const b of this.blocks) b.dispose();
    this.blocks.length = 0;
  }
}

/** Which gallery column a query row must never take: its own index (self / official In-shop mask) or none. */
export type SkipMode = 'none' | 'same-index';

export interface RowsResult {
  rowStart: number;
  rowEnd: number;
  k: number;
  /** [rows, k] gallery indices, best first; −1 where a row had fewer than k candidates. */
  idx: Int32Array;
  /** [rows, k] augmented inner products (larger = closer); −Infinity where idx is −1. */
  key: Float32Array;
}

/**
 * Exact top-k of query rows [rowStart, rowEnd) of `qa` ([*, da] row-major) against the gallery, in query blocks of
 * `blockRows`. Never holds more than one [blockRows, blockCols] score block.
 */
export async function searchRows(
  qa: Float32Array,
  da: number,
  rowStart: number,
  rowEnd: number,
  gallery: GalleryBlocks,
  k: number,
  skip: SkipMode,
  blockRows: number,
): Promise<RowsResult> {
  const n = rowEnd - rowStart;
  const idx = new Int32Array(n * k).fill(-1);
  const key = new Float32Array(n * k).fill(Number.NEGATIVE_INFINITY);
  for (let r0 = rowStart; r0 < rowEnd; r0 += blockRows) {
    const br = Math.min(blockRows, rowEnd - r0);
    const acc = new RowTopK(br, k);
    const q = tf.tensor2d(qa.subarray(r0 * da, (r0 + br) * da), [br, da]);
    try {
      for (let b = 0; b < gallery.blocks.length; b++) {
        const s = tf.matMul(q, gallery.blocks[b]!);
        let data: Float32Array;
        try {
          data = (await s.data()) as Float32Array;
        } finally {
          s.dispose();
        }
        const w = gallery.widths[b]!;
        const c0 = gallery.starts[b]!;
        for (let r = 0; r < br; r++) acc.push(r, data, r * w, w, c0, skip === 'same-index' ? r0 + r : -1);
      }
    } finally {
      q.dispose();
    }
    for (let r = 0; r < br; r++) acc.finish(r, idx, key, (r0 - rowStart + r) * k);
  }
  return { rowStart, rowEnd, k, idx, key };
}

/**
 * Variant for device backends (tfjs-node 'tensorflow', 'webgpu'): scores of a query block against the whole
 * gallery and tf.topk stay on the device; only k+1 columns per row come back. Ties follow tf.topk's order.
 */
export async function searchRowsOnDevice(
  qa: Float32Array,
  da: number,
  rowStart: number,
  rowEnd: number,
  galleryT: tf.Tensor2D,
  k: number,
  skip: SkipMode,
  blockRows: number,
): Promise<RowsResult> {
  const n = rowEnd - rowStart;
  const m = galleryT.shape[1];
  const idx = new Int32Array(n * k).fill(-1);
  const key = new Float32Array(n * k).fill(Number.NEGATIVE_INFINITY);
  const kk = Math.min(k + (skip === 'same-index' ? 1 : 0), m);
  for (let r0 = rowStart; r0 < rowEnd; r0 += blockRows) {
    const br = Math.min(blockRows, rowEnd - r0);
    const { values, indices } = tf.tidy(() => {
      const q = tf.tensor2d(qa.subarray(r0 * da, (r0 + br) * da), [br, da]);
      return tf.topk(tf.matMul(q, galleryT), kk, true);
    });
    let v: Float32Array;
    let ix: Int32Array;
    try {
      v = (await values.data()) as Float32Array;
      ix = (await indices.data()) as Int32Array;
    } finally {
      values.dispose();
      indices.dispose();
    }
    for (let r = 0; r < br; r++) {
      const self = skip === 'same-index' ? r0 + r : -1;
      let o = (r0 - rowStart + r) * k;
      const end = o + k;
      for (let j = 0; j < kk && o < end; j++) {
        const col = ix[r * kk + j]!;
        if (col === self) continue;
        idx[o] = col;
        key[o] = v[r * kk + j]!;
        o++;
      }
    }
  }
  return { rowStart, rowEnd, k, idx, key };
}
