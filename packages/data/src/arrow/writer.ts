import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Binary, Int32, makeData, RecordBatch, RecordBatchFileWriter, type Schema, Struct, Utf8 } from 'apache-arrow';
import { HierError } from '@hier-ts/core';
import { buildSchema, type DatasetRow, type ExtraColumn, META, PRODUCER, SCHEMA_VERSION } from './schema.js';

const encoder = new TextEncoder();

function utf8Data(values: string[]) {
  const parts = values.map((v) => encoder.encode(v));
  return binaryLike(new Utf8(), parts);
}

function binaryLike<T extends Binary | Utf8>(type: T, parts: Uint8Array[]) {
  const offsets = new Int32Array(parts.length + 1);
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    total += parts[i]!.length;
    if (total > 0x7fffffff) throw new HierError('ARROW_BATCH_TOO_LARGE', 'a record batch column exceeds 2 GiB; use fewer rows per batch');
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < parts.length; i++) data.set(parts[i]!, offsets[i]!);
  return makeData({ type, length: parts.length, nullCount: 0, valueOffsets: offsets, data } as never);
}

function int32Data(values: ArrayLike<number>) {
  return makeData({ type: new Int32(), length: values.length, nullCount: 0, data: Int32Array.from(values) });
}

export interface DatasetWriterOptions {
  dataset: string;
  imageFormat: 'encoded' | 'raw';
  extraColumns: readonly ExtraColumn[];
  settings: Record<string, unknown>;
  fingerprint: string;
  classNames?: readonly string[];
  /** 32–64 keeps random access through a file handle cheap (platform notes §6). */
  rowsPerBatch?: number;
}

/**
 * Streams rows into an Arrow IPC *file* under a temporary name and renames it over `target` only when
 * `finish()` succeeds, so a killed ingestion never leaves a file that looks complete. (Core's
 * writeFileAtomic needs the whole content in memory; SOP is several GB, so this streams instead.)
 */
export class DatasetFileWriter {
  readonly tmpPath: string;
  private readonly schema: Schema;
  private readonly writer = new RecordBatchFileWriter();
  private readonly done: Promise<void>;
  private pending: DatasetRow[] = [];
  private readonly rowsPerBatch: number;
  private rows = 0;
  private closed = false;

  constructor(
    readonly target: string,
    private readonly opts: DatasetWriterOptions,
  ) {
    this.rowsPerBatch = opts.rowsPerBatch ?? 64;
    const meta = new Map<string, string>([
      [META.producer, PRODUCER],
      [META.schemaVersion, String(SCHEMA_VERSION)],
      [META.dataset, opts.dataset],
      [META.imageFormat, opts.imageFormat],
      [META.settings, JSON.stringify(opts.settings)],
      [META.fingerprint, opts.fingerprint],
      [META.columns, JSON.stringify(opts.extraColumns)],
    ]);
    if (opts.classNames) meta.set(META.classNames, JSON.stringify(opts.classNames));
    this.schema = buildSchema(opts.extraColumns, meta);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.tmpPath = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
    this.done = pipeline(this.writer.toNodeStream(), fs.createWriteStream(this.tmpPath));
    // Observed in finish()/abort(); this only keeps an early disk error from being reported as unhandled.
    this.done.catch(() => undefined);
    this.writer.reset(undefined, this.schema);
  }

  get rowCount(): number {
    return this.rows + this.pending.length;
  }

  add(row: DatasetRow): void {
    if (this.closed) throw new HierError('ARROW_WRITER_CLOSED', `add() after finish() on ${this.target}`);
    this.pending.push(row);
    if (this.pending.length >= this.rowsPerBatch) this.flush();
  }

  private flush(): void {
    const rows = this.pending;
    if (rows.length === 0) return;
    this.pending = [];
    const children = [
      binaryLike(new Binary(), rows.map((r) => r.image)),
      int32Data(rows.map((r) => r.width)),
      int32Data(rows.map((r) => r.height)),
      int32Data(rows.map((r) => r.channels)),
      int32Data(rows.map((r) => r.label)),
      utf8Data(rows.map((r) => r.split)),
      utf8Data(rows.map((r) => r.path)),
      utf8Data(rows.map((r) => r.checksum)),
      ...this.opts.extraColumns.map((c) => {
        const vals = rows.map((r) => r.extra[c.name]);
        for (let i = 0; i < vals.length; i++) {
          const v = vals[i];
          if (c.type === 'int32' ? typeof v !== 'number' : typeof v !== 'string')
            throw new HierError('ARROW_BAD_COLUMN', `row ${rows[i]!.path}: column ${c.name} must be ${c.type}, got ${JSON.stringify(v)}`);
        }
        return c.type === 'int32' ? int32Data(vals as number[]) : utf8Data(vals as string[]);
      }),
    ];
    const struct = makeData({ type: new Struct(this.schema.fields), length: rows.length, nullCount: 0, children });
    this.writer.write(new RecordBatch(this.schema, struct));
    this.rows += rows.length;
  }

  /**
   * Writes the footer and renames. `finalMeta` lands in the footer's schema, which is the one file readers
   * use; it carries what is only known at the end (skipped images).
   */
  async finish(finalMeta: Record<string, string> = {}): Promise<number> {
    this.flush();
    this.closed = true;
    this.schema.metadata.set(META.rows, String(this.rows));
    for (const [k, v] of Object.entries(finalMeta)) this.schema.metadata.set(k, v);
    this.writer.finish();
    await this.done;
    const fh = await fsp.open(this.tmpPath, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(this.tmpPath, this.target);
    return this.rows;
  }

  async abort(): Promise<void> {
    this.closed = true;
    try {
      // finish() rather than abort(): arrow's abort() leaves a dangling rejected read in the node stream.
      this.writer.finish();
      await this.done.catch(() => undefined);
    } finally {
      await fsp.rm(this.tmpPath, { force: true });
    }
  }
}
