import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { type ImageListing, parseIntField, readLines, resolveRoot, type SourceImage } from './types.js';

export const SOP_SUPER_CLASSES = ['bicycle', 'cabinet', 'chair', 'coffee_maker', 'fan', 'kettle', 'lamp', 'mug', 'sofa', 'stapler', 'table', 'toaster'] as const;

/**
 * Stanford Online Products: `Ebay_train.txt` / `Ebay_test.txt` (header `image_id class_id super_class_id
 * path`, 1-based ids). Label = class_id − 1; `super_class_id` (1–12) and `image_id` kept as columns.
 */
export function readSop(dataPath: string): ImageListing {
  const root = resolveRoot(dataPath, 'Stanford_Online_Products', 'Ebay_train.txt', 'SOP');
  const items: SourceImage[] = [];
  for (const [fileName, split] of [
    ['Ebay_train.txt', 'train'],
    ['Ebay_test.txt', 'test'],
  ] as const) {
    const file = path.join(root, fileName);
    const lines = readLines(file, 'SOP');
    const header = lines[0];
    if (header?.fields.join(' ') !== 'image_id class_id super_class_id path')
      throw new HierError('DATASET_MALFORMED', `${file}:${header?.line ?? 1}: expected the header "image_id class_id super_class_id path"`);
    for (const { line, fields } of lines.slice(1)) {
      if (fields.length !== 4) throw new HierError('DATASET_MALFORMED', `${file}:${line}: expected 4 whitespace-separated fields, got ${fields.length}`);
      const imageId = parseIntField(fields[0]!, file, line, 'image_id');
      const classId = parseIntField(fields[1]!, file, line, 'class_id');
      const superId = parseIntField(fields[2]!, file, line, 'super_class_id');
      if (classId < 1) throw new HierError('LABEL_OUT_OF_RANGE', `${file}:${line}: class_id ${classId} must be ≥ 1 (ids are 1-based)`);
      if (superId < 1 || superId > SOP_SUPER_CLASSES.length)
        throw new HierError('LABEL_OUT_OF_RANGE', `${file}:${line}: super_class_id ${superId} outside 1..${SOP_SUPER_CLASSES.length}`);
      const rel = fields[3]!;
      items.push({ relPath: rel, absPath: path.join(root, rel), label: classId - 1, split, extra: { super_class_id: superId, image_id: imageId } });
    }
  }
  return {
    dataset: 'SOP',
    root,
    items,
    extraColumns: [
      { name: 'super_class_id', type: 'int32' },
      { name: 'image_id', type: 'int32' },
    ],
  };
}
