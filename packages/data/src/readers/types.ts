import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { ExtraColumn } from '../arrow/schema.js';

export type DatasetName = 'CUB' | 'Cars' | 'SOP' | 'Inshop' | 'FashionMNIST';
export const DATASET_NAMES: readonly DatasetName[] = ['CUB', 'Cars', 'SOP', 'Inshop', 'FashionMNIST'];

/** One image a reader found, before decoding. */
export interface SourceImage {
  /** Relative to the dataset root, with forward slashes (stored in the `path` column). */
  relPath: string;
  absPath: string;
  label: number;
  split: string;
  extra: Record<string, number | string>;
}

export interface ImageListing {
  dataset: DatasetName;
  root: string;
  items: SourceImage[];
  extraColumns: ExtraColumn[];
  classNames?: string[];
}

/**
 * Accepts either the dataset's own folder or its parent (`--data_path` in the official code is the parent),
 * recognised by `marker` (a file or folder that must exist inside the root).
 */
export function resolveRoot(dataPath: string, folder: string, marker: string, dataset: string): string {
  if (!fs.existsSync(dataPath)) throw new HierError('DATASET_DIR_MISSING', `${dataset}: data path ${dataPath} does not exist`);
  for (const root of [dataPath, path.join(dataPath, folder)]) if (fs.existsSync(path.join(root, marker))) return root;
  throw new HierError('DATASET_FILE_MISSING', `${dataset}: expected ${path.join(dataPath, folder, marker)} (or ${path.join(dataPath, marker)} when --data_path is the ${folder} folder itself)`);
}

/** Splits a whitespace-separated annotation file into non-empty lines with their 1-based line numbers. */
export function readLines(file: string, dataset: string): { line: number; fields: string[] }[] {
  if (!fs.existsSync(file)) throw new HierError('DATASET_FILE_MISSING', `${dataset}: expected annotation file ${file}`);
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((text, i) => ({ line: i + 1, fields: text.trim().split(/\s+/).filter((f) => f.length > 0) }))
    .filter((l) => l.fields.length > 0);
}

export function parseIntField(value: string, file: string, line: number, what: string): number {
  if (!/^-?\d+$/.test(value)) throw new HierError('DATASET_MALFORMED', `${file}:${line}: ${what} "${value}" is not an integer`);
  return Number(value);
}
