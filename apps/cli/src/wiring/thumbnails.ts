/**
 * Thumbnails for `hier visualize --thumbnails N` and the demo: PNG data URIs of a seeded sample of the drawn
 * split's images, keyed by sample row. The picture then places up to N of them, spread apart (@hier-ts/eval `poincareDiskSvg`).
 */
import { HierError, Rng } from '@hier-ts/core';
import { type ArrowDataset, thumbnailPng } from '@hier-ts/data';

/** Candidates per requested thumbnail: enough for the spreading to find well-separated ones. */
const CANDIDATES_PER_THUMBNAIL = 8;

/**
 * `positions`: each sample's position in `split` (an `EmbeddedSplit.indices` from `evalSource`), mapped here to
 * dataset rows. Keys of the result are sample rows (positions in `positions`).
 */
export async function loadThumbnails(dataset: ArrowDataset, split: string, positions: Int32Array, count: number, size: number, seed = 1): Promise<Map<number, string>> {
  const splitRows = dataset.indicesOf(split);
  const rows = positions.length;
  const want = Math.min(rows, Math.max(count, count * CANDIDATES_PER_THUMBNAIL));
  const pick = want === rows ? Array.from({ length: rows }, (_, i) => i) : new Rng(seed).sampleWithoutReplacement(rows, want).sort((a, b) => a - b);
  const out = new Map<number, string>();
  for (const r of pick) {
    const row = splitRows[positions[r]!];
    if (row === undefined) throw new HierError('E_SHAPE', `thumbnails: sample ${r} is at position ${positions[r]} of split '${split}', which has ${splitRows.length} rows`);
    const rec = await dataset.row(row);
    const png = await thumbnailPng({ bytes: rec.image, width: rec.width, height: rec.height, channels: rec.channels, format: dataset.info.imageFormat }, size);
    out.set(r, `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`);
  }
  return out;
}
