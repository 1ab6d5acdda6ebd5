import { Binary, Field, Int32, Schema, Utf8 } from 'apache-arrow';

/** Bumped whenever a column or a metadata key changes meaning; readers refuse newer files. */
export const SCHEMA_VERSION = 1;
export const PRODUCER = 'hier-ts';

export const META = {
  producer: 'hier.producer',
  schemaVersion: 'hier.schema_version',
  dataset: 'hier.dataset',
  imageFormat: 'hier.image_format',
  settings: 'hier.settings',
  fingerprint: 'hier.source_fingerprint',
  rows: 'hier.rows',
  skipped: 'hier.skipped',
  classNames: 'hier.class_names',
  columns: 'hier.extra_columns',
} as const;

/**
 * `encoded`: the image column holds a JPEG or PNG file (always RGB). `raw`: it holds height·width·channels
 * uint8 pixels, row-major HWC (used for Fashion-MNIST, where decoding 28×28 PNGs would dominate load time).
 */
export type ImageFormat = 'encoded' | 'raw';

export type ExtraColumnType = 'int32' | 'utf8';
export interface ExtraColumn {
  name: string;
  type: ExtraColumnType;
}

/** Columns every hier-ts dataset file has, in this order, before the dataset's own columns. */
export const BASE_COLUMNS = ['image', 'width', 'height', 'channels', 'label', 'split', 'path', 'checksum'] as const;

export function buildSchema(extra: readonly ExtraColumn[], metadata: Map<string, string>): Schema {
  const fields = [
    new Field('image', new Binary(), false),
    new Field('width', new Int32(), false),
    new Field('height', new Int32(), false),
    new Field('channels', new Int32(), false),
    new Field('label', new Int32(), false),
    new Field('split', new Utf8(), false),
    new Field('path', new Utf8(), false),
    new Field('checksum', new Utf8(), false),
    ...extra.map((c) => new Field(c.name, c.type === 'int32' ? new Int32() : new Utf8(), false)),
  ];
  return new Schema(fields, metadata);
}

/** The values one row carries into the file. */
export interface DatasetRow {
  image: Uint8Array;
  width: number;
  height: number;
  channels: number;
  label: number;
  split: string;
  path: string;
  checksum: string;
  extra: Record<string, number | string>;
}
