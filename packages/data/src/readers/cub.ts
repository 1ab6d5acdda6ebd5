import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { type ImageListing, parseIntField, readLines, resolveRoot, type SourceImage } from './types.js';

export const CUB_NUM_CLASSES = 200;
export const CUB_TRAIN_CLASSES = 100;

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** torchvision's IMG_EXTENSIONS: ImageFolder ignores every other file. */
const IMAGE_EXT = /\.(jpg|jpeg|png|ppm|bmp|pgm|tif|tiff|webp)$/i;

/**
 * CUB-200-2011 as the official code reads it (torchvision ImageFolder on `images/`): class folders sorted by
 * name give labels 0..199; image files (torchvision's extensions) sorted within each folder; `._*` resource
 * forks skipped; labels 0–99 train,
 * 100–199 test. The official classification split (`train_test_split.txt`) is not used for splitting but is
 * recorded in the `official_is_train` column when present (−1 otherwise).
 */
export function readCub(dataPath: string): ImageListing {
  const root = resolveRoot(dataPath, 'CUB_200_2011', 'images', 'CUB');
  const imagesDir = path.join(root, 'images');
  const classes = fs
    .readdirSync(imagesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('._'))
    .map((d) => d.name)
    .sort(byName);
  if (classes.length === 0) throw new HierError('DATASET_EMPTY', `CUB: no class folders in ${imagesDir}`);
  if (classes.length > CUB_NUM_CLASSES)
    throw new HierError('LABEL_OUT_OF_RANGE', `CUB: ${imagesDir} has ${classes.length} class folders; labels must stay below ${CUB_NUM_CLASSES} (extra folder "${classes[CUB_NUM_CLASSES]}")`);
  const official = readOfficialSplit(root);
  const items: SourceImage[] = [];
  classes.forEach((cls, label) => {
    const files = fs
      .readdirSync(path.join(imagesDir, cls), { withFileTypes: true })
      .filter((f) => f.isFile() && !f.name.startsWith('._') && IMAGE_EXT.test(f.name))
      .map((f) => f.name)
      .sort(byName);
    for (const f of files) {
      const relPath = `images/${cls}/${f}`;
      items.push({
        relPath,
        absPath: path.join(imagesDir, cls, f),
        label,
        split: label < CUB_TRAIN_CLASSES ? 'train' : 'test',
        extra: { official_is_train: official?.get(`${cls}/${f}`) ?? -1 },
      });
    }
  });
  return { dataset: 'CUB', root, items, extraColumns: [{ name: 'official_is_train', type: 'int32' }], classNames: classes };
}

function readOfficialSplit(root: string): Map<string, number> | null {
  const imagesTxt = path.join(root, 'images.txt');
  const splitTxt = path.join(root, 'train_test_split.txt');
  if (!fs.existsSync(imagesTxt) || !fs.existsSync(splitTxt)) return null;
  const idToPath = new Map<number, string>();
  for (const { line, fields } of readLines(imagesTxt, 'CUB')) {
    if (fields.length !== 2) throw new HierError('DATASET_MALFORMED', `${imagesTxt}:${line}: expected "<image_id> <path>", got ${fields.length} fields`);
    idToPath.set(parseIntField(fields[0]!, imagesTxt, line, 'image_id'), fields[1]!);
  }
  const out = new Map<string, number>();
  for (const { line, fields } of readLines(splitTxt, 'CUB')) {
    if (fields.length !== 2) throw new HierError('DATASET_MALFORMED', `${splitTxt}:${line}: expected "<image_id> <is_training_image>", got ${fields.length} fields`);
    const id = parseIntField(fields[0]!, splitTxt, line, 'image_id');
    const p = idToPath.get(id);
    if (p === undefined) throw new HierError('DATASET_MALFORMED', `${splitTxt}:${line}: image_id ${id} is not listed in ${imagesTxt}`);
    out.set(p, parseIntField(fields[1]!, splitTxt, line, 'is_training_image'));
  }
  return out;
}
