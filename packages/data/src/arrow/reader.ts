import type fs from 'node:fs';
import fsp from 'node:fs/promises';
import { type AsyncRecordBatchFileReader, type RecordBatch, RecordBatchReader, type Schema, Type, tableFromIPC } from 'apache-arrow';
import { HierError } from '@hier-ts/core';
import { BASE_COLUMNS, type DatasetRow, type ExtraColumn, type ImageFormat, META, PRODUCER, SCHEMA_VERSION } from './schema.js';

export interface DatasetInfo {
  file: string;
  dataset: string;
  schemaVersion: number;
  imageFormat: ImageFormat;
  settings: Record<string, unknown>;
  fingerprint: string;
  rows: number;
  /** Source images left out at ingestion (corrupt or unreadable), with the reason. */
  skipped: { path: string; reason: string }[];
  classNames?: string[];
  extraColumns: ExtraColumn[];
}

/** A row as read back: what the writer stored, plus its position in the file. */
export interface DatasetRecord extends DatasetRow {
  index: number;
}

export interface OpenDatasetOptions {
  /**
   * `memory` reads the whole file (2 GB/s; O(1) rows); `handle` keeps a file handle and reads one record
   * batch per access (for SOP / In-shop sized files); `auto` picks memory up to `memoryLimitBytes`
   * (default 2 GiB).
   */
  mode?: 'memory' | 'handle' | 'auto';
  memoryLimitBytes?: number;
}

function parseInfo(file: string, schema: Schema): DatasetInfo {
  const m = schema.metadata;
  if (m.get(META.producer) !== PRODUCER)
    throw new HierError('ARROW_FOREIGN_FILE', `${file} is an Arrow file but not a hier-ts dataset (schema metadata ${META.producer} is ${JSON.stringify(m.get(META.producer) ?? null)}); re-create it with \`hier ingest\``);
  const version = Number(m.get(META.schemaVersion));
  if (!Number.isInteger(version) || version < 1)
    throw new HierError('ARROW_BAD_SCHEMA', `${file}: schema version ${JSON.stringify(m.get(META.schemaVersion))} is not a positive integer`);
  if (version > SCHEMA_VERSION)
    throw new HierError('ARROW_SCHEMA_NEWER', `${file} has schema version ${version}, this hier-ts reads up to ${SCHEMA_VERSION}; upgrade hier-ts or re-ingest`);
  for (const name of BASE_COLUMNS)
    if (!schema.fields.some((f) => f.name === name)) throw new HierError('ARROW_BAD_SCHEMA', `${file} lacks the column "${name}"`);
  const json = <T>(key: string, fallback: T): T => {
    const v = m.get(key);
    return v === undefined ? fallback : (JSON.parse(v) as T);
  };
  const imageFormat = m.get(META.imageFormat);
  if (imageFormat !== 'encoded' && imageFormat !== 'raw') throw new HierError('ARROW_BAD_SCHEMA', `${file}: unknown image format ${JSON.stringify(imageFormat)}`);
  const classNames = json<string[] | undefined>(META.classNames, undefined);
  return {
    file,
    dataset: m.get(META.dataset) ?? 'unknown',
    schemaVersion: version,
    imageFormat,
    settings: json(META.settings, {}),
    fingerprint: m.get(META.fingerprint) ?? '',
    rows: Number(m.get(META.rows) ?? Number.NaN),
    skipped: json(META.skipped, []),
    ...(classNames ? { classNames } : {}),
    extraColumns: json(META.columns, []),
  };
}

/** fs.readFile refuses files over 2 GiB; a typed array filled in chunks does not. */
async function readWhole(file: string, size: number): Promise<Uint8Array> {
  if (size < 2 ** 31 - 1) return fsp.readFile(file);
  const out = new Uint8Array(size);
  const fh = await fsp.open(file, 'r');
  try {
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(out, pos, Math.min(2 ** 26, size - pos), pos);
      if (bytesRead === 0) throw new HierError('ARROW_TRUNCATED', `${file}: short read at byte ${pos} of ${size}`);
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

function checkMagic(file: string, head: Uint8Array): void {
  const magic = Buffer.from(head.subarray(0, 6)).toString('latin1');
  if (magic !== 'ARROW1')
    throw new HierError('ARROW_NOT_ARROW', `${file} is not an Arrow IPC file (first bytes ${JSON.stringify(magic)}, expected "ARROW1")`);
}

/**
 * A dataset file produced by `ingestDataset`. The small columns (labels, splits, sizes, paths, extra
 * columns) are held in memory; image bytes come from memory or from one record batch read on demand.
 */
export class ArrowDataset {
  readonly labels: Int32Array;
  readonly widths: Int32Array;
  readonly heights: Int32Array;
  readonly channels: Int32Array;
  readonly splits: string[];
  readonly paths: string[];
  readonly checksums: string[];
  readonly extra: Record<string, (number | string)[]>;
  private readonly rowBatch: Int32Array;
  private readonly rowLocal: Int32Array;
  private queue: Promise<unknown> = Promise.resolve();
  private cache: { index: number; batch: RecordBatch }[] = [];

  private constructor(
    readonly info: DatasetInfo,
    readonly mode: 'memory' | 'handle',
    private readonly batches: RecordBatch[] | null,
    private readonly reader: AsyncRecordBatchFileReader | null,
    private readonly handle: fsp.FileHandle | null,
    batchLengths: number[],
    small: { labels: number[]; widths: number[]; heights: number[]; channels: number[]; splits: string[]; paths: string[]; checksums: string[]; extra: Record<string, (number | string)[]> },
  ) {
    this.labels = Int32Array.from(small.labels);
    this.widths = Int32Array.from(small.widths);
    this.heights = Int32Array.from(small.heights);
    this.channels = Int32Array.from(small.channels);
    this.splits = small.splits;
    this.paths = small.paths;
    this.checksums = small.checksums;
    this.extra = small.extra;
    const n = this.labels.length;
    this.rowBatch = new Int32Array(n);
    this.rowLocal = new Int32Array(n);
    let r = 0;
    batchLengths.forEach((len, b) => {
      for (let i = 0; i < len; i++, r++) {
        this.rowBatch[r] = b;
        this.rowLocal[r] = i;
      }
    });
  }

  static async open(file: string, options: OpenDatasetOptions = {}): Promise<ArrowDataset> {
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(file);
    } catch {
      throw new HierError('DATASET_FILE_MISSING', `dataset file ${file} does not exist; create it with \`hier ingest --out ${file}\``);
    }
    const requested = options.mode ?? 'auto';
    const mode = requested === 'auto' ? (stat.size <= (options.memoryLimitBytes ?? 2 * 2 ** 30) ? 'memory' : 'handle') : requested;
    if (mode === 'memory') {
      const buf = await readWhole(file, stat.size);
      checkMagic(file, buf);
      const table = tableFromIPC(buf);
      const info = parseInfo(file, table.schema);
      const small = collectSmall(table.batches, info.extraColumns);
      return new ArrowDataset(info, 'memory', table.batches, null, null, table.batches.map((b) => b.numRows), small);
    }
    const handle = await fsp.open(file, 'r');
    try {
      const head = new Uint8Array(6);
      await handle.read(head, 0, 6, 0);
      checkMagic(file, head);
      const reader = (await RecordBatchReader.from(handle)) as AsyncRecordBatchFileReader;
      await reader.open();
      if (!reader.isFile()) throw new HierError('ARROW_NOT_ARROW', `${file} is an Arrow stream, not an Arrow file`);
      const info = parseInfo(file, reader.schema);
      const lengths: number[] = [];
      const small = collectSmall([], info.extraColumns);
      for (let b = 0; b < reader.numRecordBatches; b++) {
        const batch = await reader.readRecordBatch(b);
        if (!batch) throw new HierError('ARROW_TRUNCATED', `${file}: record batch ${b} could not be read`);
        lengths.push(batch.numRows);
        appendSmall(small, batch, info.extraColumns);
      }
      return new ArrowDataset(info, 'handle', null, reader, handle, lengths, small);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get length(): number {
    return this.labels.length;
  }

  /** Row indices whose split is one of `splits`, ascending. */
  indicesOf(...splits: string[]): Int32Array {
    const want = new Set(splits);
    const out: number[] = [];
    for (let i = 0; i < this.splits.length; i++) if (want.has(this.splits[i]!)) out.push(i);
    return Int32Array.from(out);
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length)
      throw new HierError('DATASET_INDEX', `row ${i} out of range for ${this.info.file} (${this.length} rows)`);
  }

  /** Image bytes of row `i` without copying (memory mode only). */
  imageSync(i: number): Uint8Array {
    this.checkIndex(i);
    if (!this.batches) throw new HierError('DATASET_MODE', `imageSync needs mode "memory"; ${this.info.file} was opened with a file handle`);
    return this.batches[this.rowBatch[i]!]!.getChildAt(0)!.get(this.rowLocal[i]!) as Uint8Array;
  }

  async image(i: number): Promise<Uint8Array> {
    this.checkIndex(i);
    if (this.batches) return this.imageSync(i);
    const batch = await this.batchAt(this.rowBatch[i]!);
    return (batch.getChildAt(0)!.get(this.rowLocal[i]!) as Uint8Array).slice();
  }

  async row(i: number): Promise<DatasetRecord> {
    const image = await this.image(i);
    const extra: Record<string, number | string> = {};
    for (const c of this.info.extraColumns) extra[c.name] = this.extra[c.name]![i]!;
    return {
      index: i,
      image,
      width: this.widths[i]!,
      height: this.heights[i]!,
      channels: this.channels[i]!,
      label: this.labels[i]!,
      split: this.splits[i]!,
      path: this.paths[i]!,
      checksum: this.checksums[i]!,
      extra,
    };
  }

  /** Reads through one handle are serialised: the Arrow reader seeks a shared file position. */
  private batchAt(b: number): Promise<RecordBatch> {
    const hit = this.cache.find((c) => c.index === b);
    if (hit) return Promise.resolve(hit.batch);
    const next = this.queue.then(async () => {
      const again = this.cache.find((c) => c.index === b);
      if (again) return again.batch;
      const batch = await this.reader!.readRecordBatch(b);
      if (!batch) throw new HierError('ARROW_TRUNCATED', `${this.info.file}: record batch ${b} could not be read`);
      this.cache.push({ index: b, batch });
      if (this.cache.length > 4) this.cache.shift();
      return batch;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.cache = [];
    if (this.handle) await this.handle.close();
  }
}

type Small = { labels: number[]; widths: number[]; heights: number[]; channels: number[]; splits: string[]; paths: string[]; checksums: string[]; extra: Record<string, (number | string)[]> };

function collectSmall(batches: RecordBatch[], extra: ExtraColumn[]): Small {
  const s: Small = { labels: [], widths: [], heights: [], channels: [], splits: [], paths: [], checksums: [], extra: {} };
  for (const c of extra) s.extra[c.name] = [];
  for (const b of batches) appendSmall(s, b, extra);
  return s;
}

function appendSmall(s: Small, b: RecordBatch, extra: ExtraColumn[]): void {
  const push = <T>(dst: T[], name: string) => {
    const col = b.getChild(name);
    if (!col) throw new HierError('ARROW_BAD_SCHEMA', `record batch lacks column "${name}"`);
    // Int32 columns come out as one typed array; strings need a per-row decode.
    if (col.type.typeId === Type.Int) for (const v of col.toArray() as Int32Array) dst.push(v as T);
    else for (let i = 0; i < b.numRows; i++) dst.push(col.get(i) as T);
  };
  push(s.labels, 'label');
  push(s.widths, 'width');
  push(s.heights, 'height');
  push(s.channels, 'channels');
  push(s.splits, 'split');
  push(s.paths, 'path');
  push(s.checksums, 'checksum');
  for (const c of extra) push(s.extra[c.name]!, c.name);
}

/** Schema metadata only (reads the footer, not the record batches): cheap even for multi-GB files. */
export async function readDatasetInfo(file: string): Promise<DatasetInfo> {
  const handle = await fsp.open(file, 'r').catch(() => {
    throw new HierError('DATASET_FILE_MISSING', `dataset file ${file} does not exist`);
  });
  try {
    const head = new Uint8Array(6);
    await handle.read(head, 0, 6, 0);
    checkMagic(file, head);
    const reader = (await RecordBatchReader.from(handle)) as AsyncRecordBatchFileReader;
    await reader.open();
    return parseInfo(file, reader.schema);
  } finally {
    await handle.close();
  }
}

export function openDataset(file: string, options?: OpenDatasetOptions): Promise<ArrowDataset> {
  return ArrowDataset.open(file, options);
}
