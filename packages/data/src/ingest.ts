import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { HierError, ProgressBar } from '@hier-ts/core';
import sharp from 'sharp';
import { openDataset, readDatasetInfo } from './arrow/reader.js';
import { META } from './arrow/schema.js';
import { DatasetFileWriter } from './arrow/writer.js';
import { readImageHeader } from './image-header.js';
import { readCars } from './readers/cars.js';
import { readCub } from './readers/cub.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_COARSE,
  FASHION_MNIST_COARSE_NAMES,
  fashionMnistZeroShotSplit,
  readFashionMnist,
} from './readers/fashion-mnist.js';
import { readInshop } from './readers/inshop.js';
import { readSop } from './readers/sop.js';
import { DATASET_NAMES, type DatasetName, type ImageListing } from './readers/types.js';

export interface IngestOptions {
  dataset: DatasetName;
  /** Dataset folder or its parent. Optional for FashionMNIST (Debian's folder, else the npm copy). */
  dataPath?: string;
  out: string;
  /** Shrink so the short side is at most this many pixels (never enlarges). */
  resize?: number;
  /** Fail on the first unreadable image instead of skipping it with a warning. */
  strict?: boolean;
  /** Re-read the finished (or existing) file and check counts and checksums. */
  verify?: boolean;
  /** Re-ingest even when `out` is already complete for the same input and settings. */
  force?: boolean;
  /** JPEG quality when an image has to be re-encoded (default 95). */
  quality?: number;
  /** Two-pass Huffman optimisation of re-encoded JPEGs (default false: ~2× faster encode, files a few % larger). */
  optimiseCoding?: boolean;
  /** Resampling kernel for `resize` (default 'cubic'). */
  resizeKernel?: ResizeKernel;
  /** Images decoded at once (sharp runs one libvips thread per image; default 8). */
  concurrency?: number;
  rowsPerBatch?: number;
  /** FashionMNIST: also keep the training images of classes 5–9 (split `unused`). */
  keepUnused?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Warnings (skipped images); default stderr. */
  log?: (line: string) => void;
  /** Draw core's ProgressBar on stderr. */
  progressBar?: boolean;
}

export interface VerifyReport {
  rows: number;
  checked: number;
  /** Rows whose source is gone (cannot be re-hashed). */
  sourceMissing: number;
}

export interface IngestResult {
  out: string;
  rows: number;
  skipped: { path: string; reason: string }[];
  /** True when `out` was already complete for this input and settings, so nothing was written. */
  upToDate: boolean;
  seconds: number;
  verify?: VerifyReport;
}

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Lists an image dataset (everything except FashionMNIST) without decoding anything. */
export function listDataset(dataset: Exclude<DatasetName, 'FashionMNIST'>, dataPath: string): ImageListing {
  switch (dataset) {
    case 'CUB': return readCub(dataPath);
    case 'Cars': return readCars(dataPath);
    case 'SOP': return readSop(dataPath);
    case 'Inshop': return readInshop(dataPath);
    default: throw new HierError('DATASET_UNKNOWN', `unknown dataset ${JSON.stringify(dataset)}; expected one of ${DATASET_NAMES.join(', ')}`);
  }
}

export interface PreparedImage {
  bytes: Uint8Array;
  width: number;
  height: number;
}

/** libvips resampling kernels offered for `resize` (sharp's names). */
export type ResizeKernel = 'cubic' | 'linear' | 'mitchell' | 'lanczos3';
export const RESIZE_KERNELS: readonly ResizeKernel[] = ['cubic', 'linear', 'mitchell', 'lanczos3'];

export interface PrepareImageOptions {
  /** JPEG quality of re-encoded images (default 95). */
  quality?: number;
  /**
   * Two-pass Huffman optimisation of re-encoded JPEGs (sharp's `optimiseCoding`). Default false: it makes
   * the files only a few per cent smaller but the encode about twice as slow (README, "Ingestion speed").
   */
  optimiseCoding?: boolean;
  /** Resampling kernel for `resize` (default 'cubic', libvips' Catmull-Rom). */
  kernel?: ResizeKernel;
}

/**
 * Decodes one source image fully (so truncated or corrupt files are caught here, not in training), converts
 * grey / CMYK / alpha to 3-channel sRGB, shrinks it when asked, and keeps the original bytes whenever none of
 * that changed anything (no generation loss for RGB JPEGs and PNGs).
 *
 * One libvips pipeline per image: the size and colour layout of JPEGs and PNGs come from their headers
 * (`readImageHeader`), not from a separate `metadata()` call. Every path decodes every pixel with
 * `failOn: 'warning'`, which is what turns libjpeg's "premature end of data" / "corrupt data" warnings
 * into errors.
 */
export async function prepareImage(buf: Uint8Array, resize: number | undefined, opts: PrepareImageOptions = {}): Promise<PreparedImage> {
  const quality = opts.quality ?? 95;
  let format: string | undefined;
  let width: number;
  let height: number;
  let rgb8: boolean;
  const header = readImageHeader(buf);
  if (header) {
    ({ format, width, height, rgb8 } = header);
  } else {
    // Other formats (WebP, TIFF, GIF, …) and the rare JPEG this parser does not follow.
    const meta = await sharp(buf, DECODE).metadata();
    if (!meta.width || !meta.height) throw new Error('no image dimensions');
    ({ format, width, height } = meta);
    rgb8 = meta.channels === 3 && meta.space === 'srgb' && !meta.hasAlpha;
  }
  const shrink = resize !== undefined && Math.min(width, height) > resize;
  if (shrink) {
    const s = resize! / Math.min(width, height);
    width = Math.max(1, Math.round(width * s));
    height = Math.max(1, Math.round(height * s));
  }
  if (!shrink && rgb8 && (format === 'jpeg' || format === 'png')) {
    // Keep the source bytes; the decode is only the corruption check.
    const { info } = await sharp(buf, DECODE).raw().toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height || info.channels !== 3)
      throw new Error(`header says ${width}x${height} RGB but the image decodes to ${info.width}x${info.height}x${info.channels}`);
    return { bytes: buf, width, height };
  }
  let pipe = sharp(buf, DECODE);
  if (shrink) pipe = pipe.resize(width, height, { fit: 'fill', kernel: opts.kernel ?? 'cubic' });
  pipe = pipe.removeAlpha().toColourspace('srgb');
  const encoded =
    format === 'png'
      ? await pipe.png().toBuffer({ resolveWithObject: true })
      : await pipe.jpeg({ quality, optimiseCoding: opts.optimiseCoding ?? false }).toBuffer({ resolveWithObject: true });
  return { bytes: new Uint8Array(encoded.data.buffer, encoded.data.byteOffset, encoded.data.byteLength), width: encoded.info.width, height: encoded.info.height };
}

/** sharp's default, spelled out because truncation detection depends on it. */
const DECODE = { failOn: 'warning' } as const;

function fingerprintOf(parts: Iterable<string>): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex');
}

async function isUpToDate(out: string, dataset: string, fingerprint: string): Promise<boolean> {
  if (!fs.existsSync(out)) return false;
  // The final name only ever holds a completely written file (temp + rename), so the footer is enough.
  try {
    const info = await readDatasetInfo(out);
    return info.dataset === dataset && info.fingerprint === fingerprint && Number.isInteger(info.rows);
  } catch {
    return false;
  }
}

/**
 * Reads a dataset folder and writes one Arrow IPC file (see README for the columns). The thin body of
 * `hier ingest`.
 */
export async function ingestDataset(opts: IngestOptions): Promise<IngestResult> {
  const t0 = Date.now();
  if (!DATASET_NAMES.includes(opts.dataset)) throw new HierError('DATASET_UNKNOWN', `--dataset ${JSON.stringify(opts.dataset)} is not one of ${DATASET_NAMES.join(', ')}`);
  if (opts.resize !== undefined && !(Number.isInteger(opts.resize) && opts.resize > 0)) throw new HierError('INGEST_CONFIG', `--resize must be a positive integer, got ${opts.resize}`);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const result = opts.dataset === 'FashionMNIST' ? await ingestFashionMnist(opts) : await ingestImages(opts, log);
  if (opts.verify) result.verify = await verifyDatasetFile(opts.out);
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

async function ingestFashionMnist(opts: IngestOptions): Promise<IngestResult> {
  const data = readFashionMnist(opts.dataPath);
  const settings = { source: data.source, keepUnused: opts.keepUnused ?? false, zeroShot: 'train=train∩{0..4}; unseen=test∩{5..9}; seen=test∩{0..4}' };
  const n = data.labels.length;
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (settings.keepUnused || fashionMnistZeroShotSplit(data.labels[i]!, data.officialSplit[i]!) !== 'unused') rows.push(i);
  const fingerprint = fingerprintOf([JSON.stringify(settings), sha256(data.images), sha256(data.labels), data.officialSplit.join(''), String(rows.length)]);
  if (!opts.force && (await isUpToDate(opts.out, 'FashionMNIST', fingerprint)))
    return { out: opts.out, rows: rows.length, skipped: [], upToDate: true, seconds: 0 };
  const writer = new DatasetFileWriter(opts.out, {
    dataset: 'FashionMNIST',
    imageFormat: 'raw',
    extraColumns: [
      { name: 'official_split', type: 'utf8' },
      { name: 'coarse_label', type: 'int32' },
    ],
    settings: { ...settings, pixels: 'raw uint8 grey 28x28 row-major (no PNG)', coarse: FASHION_MNIST_COARSE_NAMES },
    fingerprint,
    classNames: [...FASHION_MNIST_CLASSES],
    ...(opts.rowsPerBatch ? { rowsPerBatch: opts.rowsPerBatch } : {}),
  });
  const bar = opts.progressBar ? new ProgressBar({ label: 'ingest FashionMNIST', total: rows.length }) : null;
  try {
    rows.forEach((i, k) => {
      const image = data.images.subarray(i * 784, (i + 1) * 784);
      const label = data.labels[i]!;
      writer.add({
        image,
        width: 28,
        height: 28,
        channels: 1,
        label,
        split: fashionMnistZeroShotSplit(label, data.officialSplit[i]!),
        path: data.ids[i]!,
        checksum: sha256(image),
        extra: { official_split: data.officialSplit[i]!, coarse_label: FASHION_MNIST_COARSE[label]! },
      });
      if ((k + 1) % 1000 === 0 || k + 1 === rows.length) {
        opts.onProgress?.(k + 1, rows.length);
        bar?.tick(Math.min(1000, k + 1 - (bar?.completed ?? 0)));
      }
    });
    const count = await writer.finish({ [META.skipped]: '[]' });
    bar?.finish();
    return { out: opts.out, rows: count, skipped: [], upToDate: false, seconds: 0 };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

async function ingestImages(opts: IngestOptions, log: (line: string) => void): Promise<IngestResult> {
  if (!opts.dataPath) throw new HierError('INGEST_CONFIG', `--data_path is required for ${opts.dataset}`);
  const listing = listDataset(opts.dataset as Exclude<DatasetName, 'FashionMNIST'>, opts.dataPath);
  if (listing.items.length === 0) throw new HierError('DATASET_EMPTY', `${opts.dataset}: no images listed under ${listing.root}`);
  const encode = { quality: opts.quality ?? 95, optimiseCoding: opts.optimiseCoding ?? false, kernel: opts.resizeKernel ?? 'cubic' };
  if (!(Number.isInteger(encode.quality) && encode.quality >= 1 && encode.quality <= 100)) throw new HierError('INGEST_CONFIG', `quality must be an integer 1-100, got ${encode.quality}`);
  if (!RESIZE_KERNELS.includes(encode.kernel)) throw new HierError('INGEST_CONFIG', `resizeKernel must be one of ${RESIZE_KERNELS.join(', ')}, got ${JSON.stringify(encode.kernel)}`);
  const settings = { resize: opts.resize ?? null, ...encode, root: listing.root };
  const fingerprint = fingerprintOf([JSON.stringify({ resize: settings.resize, ...encode }), ...listing.items.map((it) => `${it.relPath}\t${it.label}\t${it.split}`)]);
  if (!opts.force && (await isUpToDate(opts.out, opts.dataset, fingerprint))) {
    const info = await readDatasetInfo(opts.out);
    return { out: opts.out, rows: info.rows, skipped: info.skipped, upToDate: true, seconds: 0 };
  }
  const writer = new DatasetFileWriter(opts.out, {
    dataset: opts.dataset,
    imageFormat: 'encoded',
    extraColumns: listing.extraColumns,
    settings,
    fingerprint,
    ...(listing.classNames ? { classNames: listing.classNames } : {}),
    // Big sets (SOP, In-shop) are read through a file handle, one record batch per random row: keep them small.
    rowsPerBatch: opts.rowsPerBatch ?? (listing.items.length > 30_000 ? 32 : 64),
  });
  const total = listing.items.length;
  const bar = opts.progressBar ? new ProgressBar({ label: `ingest ${opts.dataset}`, total }) : null;
  const skipped: { path: string; reason: string }[] = [];
  const prevConcurrency = sharp.concurrency();
  sharp.concurrency(1);
  try {
    const inflight = Math.max(1, opts.concurrency ?? 8);
    const work = (k: number) => {
      const it = listing.items[k]!;
      return (async () => {
        let buf: Buffer;
        try {
          buf = await fsp.readFile(it.absPath);
        } catch {
          return { error: `image listed but missing: ${it.absPath}` };
        }
        try {
          const img = await prepareImage(buf, opts.resize, encode);
          return { img, checksum: sha256(buf) };
        } catch (err) {
          return { error: `corrupt or truncated image ${it.absPath}: ${(err as Error).message}` };
        }
      })();
    };
    const queue: ReturnType<typeof work>[] = [];
    let next = 0;
    for (let k = 0; k < total; k++) {
      while (next < total && queue.length < inflight) queue.push(work(next++));
      const r = await queue.shift()!;
      const it = listing.items[k]!;
      if ('error' in r) {
        if (opts.strict) throw new HierError(r.error!.startsWith('image listed') ? 'IMAGE_MISSING' : 'IMAGE_CORRUPT', `${r.error} (--strict)`);
        skipped.push({ path: it.relPath, reason: r.error! });
        log(`warning: skipping ${r.error}`);
      } else {
        writer.add({ image: r.img!.bytes, width: r.img!.width, height: r.img!.height, channels: 3, label: it.label, split: it.split, path: it.relPath, checksum: r.checksum!, extra: it.extra });
      }
      opts.onProgress?.(k + 1, total);
      bar?.tick();
    }
    const rows = await writer.finish({ [META.skipped]: JSON.stringify(skipped) });
    bar?.finish(skipped.length ? `${skipped.length} skipped` : undefined);
    if (skipped.length) log(`warning: ${skipped.length} of ${total} ${opts.dataset} images skipped (see schema metadata ${META.skipped})`);
    return { out: opts.out, rows, skipped, upToDate: false, seconds: 0 };
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    sharp.concurrency(prevConcurrency);
  }
}

/**
 * Re-reads a dataset file: the row count must match what the footer recorded, every raw image must still
 * hash to its checksum, and every encoded image's source file (when it still exists under the recorded
 * root) must hash to the checksum taken at ingestion.
 */
export async function verifyDatasetFile(file: string): Promise<VerifyReport> {
  const ds = await openDataset(file, { mode: 'handle' });
  try {
    if (ds.length !== ds.info.rows)
      throw new HierError('VERIFY_FAILED', `${file}: ${ds.length} rows readable but the footer records ${ds.info.rows}`);
    const root = typeof ds.info.settings.root === 'string' ? ds.info.settings.root : null;
    let checked = 0;
    let sourceMissing = 0;
    for (let i = 0; i < ds.length; i++) {
      let bytes: Uint8Array | null = null;
      if (ds.info.imageFormat === 'raw') bytes = await ds.image(i);
      else if (root) bytes = await fsp.readFile(`${root}/${ds.paths[i]}`).catch(() => null);
      if (!bytes) {
        sourceMissing++;
        continue;
      }
      if (sha256(bytes) !== ds.checksums[i])
        throw new HierError('VERIFY_FAILED', `${file}: row ${i} (${ds.paths[i]}) checksum differs from the one recorded at ingestion`);
      checked++;
    }
    return { rows: ds.length, checked, sourceMissing };
  } finally {
    await ds.close();
  }
}
