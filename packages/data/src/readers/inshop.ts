import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { type ImageListing, readLines, resolveRoot, type SourceImage } from './types.js';

/**
 * In-shop Clothes Retrieval: `Eval/list_eval_partition.txt` (a count line, the header `image_name item_id
 * evaluation_status`, then rows). Label = rank of the integer after the last "_" of item_id among the sorted
 * unique ids, computed for train and separately for query ∪ gallery (one shared label space). Images live at
 * `Img/<image_name>`. Gender and category (`img/<GENDER>/<Category>/id_…/…`) and item_id become columns.
 */
export function readInshop(dataPath: string): ImageListing {
  const root = resolveRoot(dataPath, 'Inshop_Clothes', path.join('Eval', 'list_eval_partition.txt'), 'Inshop');
  const file = path.join(root, 'Eval', 'list_eval_partition.txt');
  const lines = readLines(file, 'Inshop');
  const countLine = lines[0];
  if (countLine?.fields.length !== 1 || !/^\d+$/.test(countLine.fields[0]!))
    throw new HierError('DATASET_MALFORMED', `${file}:${countLine?.line ?? 1}: expected the image count on the first line`);
  const header = lines[1];
  if (header?.fields.join(' ') !== 'image_name item_id evaluation_status')
    throw new HierError('DATASET_MALFORMED', `${file}:${header?.line ?? 2}: expected the header "image_name item_id evaluation_status"`);
  const rows = lines.slice(2);
  const declared = Number(countLine.fields[0]);
  if (declared !== rows.length) throw new HierError('DATASET_MALFORMED', `${file}:${countLine.line}: declares ${declared} images but ${rows.length} rows follow`);
  const parsed = rows.map(({ line, fields }) => {
    if (fields.length !== 3) throw new HierError('DATASET_MALFORMED', `${file}:${line}: expected 3 fields, got ${fields.length}`);
    const [name, itemId, status] = fields as [string, string, string];
    if (status !== 'train' && status !== 'query' && status !== 'gallery')
      throw new HierError('DATASET_MALFORMED', `${file}:${line}: evaluation_status "${status}" is not train, query or gallery`);
    const m = /_(\d+)$/.exec(itemId);
    if (!m) throw new HierError('DATASET_MALFORMED', `${file}:${line}: item_id "${itemId}" does not end in _<number>`);
    const parts = name.split('/');
    return { name, itemId, status, id: Number(m[1]), gender: parts[1] ?? '', category: parts[2] ?? '' };
  });
  const rank = (statuses: string[]) => {
    const ids = [...new Set(parsed.filter((p) => statuses.includes(p.status)).map((p) => p.id))].sort((a, b) => a - b);
    return new Map(ids.map((id, i) => [id, i]));
  };
  const trainRank = rank(['train']);
  const evalRank = rank(['query', 'gallery']);
  const items: SourceImage[] = parsed.map((p) => ({
    relPath: `Img/${p.name}`,
    absPath: path.join(root, 'Img', p.name),
    label: (p.status === 'train' ? trainRank : evalRank).get(p.id)!,
    split: p.status,
    extra: { item_id: p.itemId, gender: p.gender, category: p.category },
  }));
  return {
    dataset: 'Inshop',
    root,
    items,
    extraColumns: [
      { name: 'item_id', type: 'utf8' },
      { name: 'gender', type: 'utf8' },
      { name: 'category', type: 'utf8' },
    ],
  };
}
