import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { type MatValue, matScalar, readMat5 } from '../formats/mat5.js';
import { type ImageListing, resolveRoot, type SourceImage } from './types.js';

export const CARS_NUM_CLASSES = 196;
export const CARS_TRAIN_CLASSES = 98;

const TWO_WORD_MAKES = ['AM General', 'Aston Martin', 'Land Rover'];

/** Splits "BMW M3 Coupe 2012" into make, model (with body type) and year. */
export function parseCarClassName(name: string): { make: string; model: string; year: number } {
  const trimmed = name.trim();
  const m = /^(.*)\s+(\d{4})$/.exec(trimmed);
  const rest = m ? m[1]! : trimmed;
  const year = m ? Number(m[2]) : -1;
  const make = TWO_WORD_MAKES.find((mk) => rest.startsWith(`${mk} `)) ?? rest.split(/\s+/)[0]!;
  return { make, model: rest.slice(make.length).trim(), year };
}

/**
 * Cars-196 from `cars_annos.mat` (annotations struct array: relative_im_path, bbox_x1..y2, class 1-based,
 * test) + `car_ims/`. Label = class − 1, classes 1–98 train, 99–196 test, file order. The official
 * classification flag `test` is ignored for splitting and kept as `official_test`.
 */
export function readCars(dataPath: string): ImageListing {
  const root = resolveRoot(dataPath, 'cars196', 'cars_annos.mat', 'Cars');
  const matFile = path.join(root, 'cars_annos.mat');
  const vars = readMat5(fs.readFileSync(matFile), matFile);
  const ann = vars.get('annotations');
  if (ann?.kind !== 'struct') throw new HierError('DATASET_MALFORMED', `${matFile}: expected a struct array variable "annotations"`);
  for (const f of ['relative_im_path', 'bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class'])
    if (!ann.fields.includes(f)) throw new HierError('DATASET_MALFORMED', `${matFile}: annotations lack the field "${f}" (have ${ann.fields.join(', ')})`);
  const classNames = readClassNames(vars.get('class_names'), matFile);
  const items: SourceImage[] = ann.elements.map((e, i) => {
    const where = `${matFile}: annotations(${i + 1})`;
    const p = e.relative_im_path;
    if (p?.kind !== 'char' || p.text.length === 0) throw new HierError('DATASET_MALFORMED', `${where}.relative_im_path is not a string`);
    const cls = matScalar(e.class, `${where}.class`);
    if (!Number.isInteger(cls) || cls < 1 || cls > CARS_NUM_CLASSES)
      throw new HierError('LABEL_OUT_OF_RANGE', `${where}.class = ${cls} is outside 1..${CARS_NUM_CLASSES}`);
    const name = classNames?.[cls - 1] ?? '';
    const parsed = parseCarClassName(name);
    return {
      relPath: p.text,
      absPath: path.join(root, p.text),
      label: cls - 1,
      split: cls <= CARS_TRAIN_CLASSES ? 'train' : 'test',
      extra: {
        bbox_x1: matScalar(e.bbox_x1, `${where}.bbox_x1`),
        bbox_y1: matScalar(e.bbox_y1, `${where}.bbox_y1`),
        bbox_x2: matScalar(e.bbox_x2, `${where}.bbox_x2`),
        bbox_y2: matScalar(e.bbox_y2, `${where}.bbox_y2`),
        official_test: e.test ? matScalar(e.test, `${where}.test`) : -1,
        class_name: name,
        make: name ? parsed.make : '',
        model: name ? parsed.model : '',
        year: parsed.year,
      },
    };
  });
  return {
    dataset: 'Cars',
    root,
    items,
    extraColumns: [
      ...['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'official_test'].map((name) => ({ name, type: 'int32' as const })),
      ...['class_name', 'make', 'model'].map((name) => ({ name, type: 'utf8' as const })),
      { name: 'year', type: 'int32' },
    ],
    ...(classNames ? { classNames } : {}),
  };
}

function readClassNames(v: MatValue | undefined, file: string): string[] | undefined {
  if (!v) return undefined;
  if (v.kind !== 'cell') throw new HierError('DATASET_MALFORMED', `${file}: class_names must be a cell array of strings, got ${v.kind}`);
  return v.cells.map((c, i) => {
    if (c.kind === 'empty') return '';
    if (c.kind !== 'char') throw new HierError('DATASET_MALFORMED', `${file}: class_names{${i + 1}} is a ${c.kind}, expected a string`);
    return c.text;
  });
}
