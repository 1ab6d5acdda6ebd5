import fsp from 'node:fs/promises';
import { HierError, writeFileAtomic } from '@hier-ts/core';
import {
  Field,
  FixedSizeList,
  Float32,
  Int32,
  makeData,
  makeVector,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { checkLabels, checkMatrix, type Matrix } from './matrix.js';

/** One split to export (e.g. 'test', or 'query' and 'gallery'). */
export interface ExportSplit {
  split: string;
  embeddings: Matrix;
  labels: Int32Array;
  /** Row position in the split (defaults to 0..n−1). */
  indices?: Int32Array;
  /** Ground-truth coarse labels (hierarchy level above `labels`), when the dataset has them. */
  coarseLabels?: Int32Array;
}

/**
 * Writes embeddings as an Arrow IPC *file* (readable by `pyarrow.ipc.open_file` / `pyarrow.feather.read_table`):
 * columns `index` int32, `label` int32, `split` utf8, `vector` fixed_size_list<float32>[dim], and `coarse_label`
 * int32 (null where a split has none) when any split has coarse labels. `metadata` goes into the schema metadata
 * (e.g. similarity, curvature, model). The file is written atomically.
 */
export async function exportEmbeddingsArrow(path: string, splits: ExportSplit[], metadata: Record<string, string> = {}): Promise<{ rows: number; bytes: number }> {
  if (!splits.length) throw new HierError('E_EMPTY', `exportEmbeddingsArrow(${path}): no splits to write`);
  const dim = splits[0]!.embeddings.dim;
  let rows = 0;
  for (const s of splits) {
    checkMatrix(s.embeddings, `export split '${s.split}' embeddings`);
    if (s.embeddings.dim !== dim) throw new HierError('E_SHAPE', `exportEmbeddingsArrow: split '${s.split}' has dim ${s.embeddings.dim}, expected ${dim}`);
    checkLabels(s.labels, s.embeddings.rows, `export split '${s.split}' labels`, 'its embeddings');
    if (s.indices) checkLabels(s.indices, s.embeddings.rows, `export split '${s.split}' indices`, 'its embeddings');
    if (s.coarseLabels) checkLabels(s.coarseLabels, s.embeddings.rows, `export split '${s.split}' coarse labels`, 'its embeddings');
    rows += s.embeddings.rows;
  }
  const hasCoarse = splits.some((s) => s.coarseLabels);
  const vec = new Float32Array(rows * dim);
  const index = new Int32Array(rows);
  const label = new Int32Array(rows);
  const split: string[] = [];
  const coarse: (number | null)[] = [];
  let o = 0;
  for (const s of splits) {
    vec.set(s.embeddings.data, o * dim);
    label.set(s.labels, o);
    for (let i = 0; i < s.embeddings.rows; i++) {
      index[o + i] = s.indices ? s.indices[i]! : i;
      split.push(s.split);
      if (hasCoarse) coarse.push(s.coarseLabels ? s.coarseLabels[i]! : null);
    }
    o += s.embeddings.rows;
  }
  const itemField = new Field('item', new Float32(), false);
  const listType = new FixedSizeList(dim, itemField);
  const vectorData = makeData({
    type: listType,
    length: rows,
    nullCount: 0,
    child: makeData({ type: new Float32(), length: rows * dim, nullCount: 0, data: vec }),
  });
  const columns = {
    index: makeVector(index),
    label: makeVector(label),
    split: vectorFromArray(split, new Utf8()),
    vector: makeVector(vectorData),
    ...(hasCoarse ? { coarse_label: vectorFromArray(coarse, new Int32()) } : {}),
  };
  const fields = Object.entries(columns).map(([name, v]) => new Field(name, v.type, name === 'coarse_label'));
  const schema = new Schema(fields, new Map(Object.entries({ 'hier-ts.kind': 'embeddings', 'hier-ts.dim': String(dim), ...metadata })));
  const struct = makeData({
    type: new Struct(fields),
    length: rows,
    nullCount: 0,
    children: Object.values(columns).map((v) => v.data[0]!),
  });
  const table = new Table(schema, [new RecordBatch(schema, struct)]);
  const bytes = tableToIPC(table, 'file');
  await writeFileAtomic(path, bytes);
  return { rows, bytes: bytes.byteLength };
}

/** Reads a file written by `exportEmbeddingsArrow` back into splits (in file order). */
export async function readEmbeddingsArrow(path: string): Promise<{ splits: ExportSplit[]; metadata: Record<string, string> }> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(path);
  } catch (err) {
    throw new HierError('E_IO', `cannot read embeddings file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const table = tableFromIPC(buf);
  for (const col of ['index', 'label', 'split', 'vector']) {
    if (!table.getChild(col)) throw new HierError('E_FORMAT', `${path}: missing column '${col}' (columns: ${table.schema.fields.map((f) => f.name).join(', ')})`);
  }
  const vt = table.schema.fields.find((f) => f.name === 'vector')!.type;
  if (!(vt instanceof FixedSizeList)) throw new HierError('E_FORMAT', `${path}: column 'vector' must be fixed_size_list<float32>, got ${vt}`);
  const dim = vt.listSize;
  const n = table.numRows;
  const vec = new Float32Array(n * dim);
  let o = 0;
  for (const chunk of table.getChild('vector')!.data) {
    const child = chunk.children[0]!;
    const values = child.values as Float32Array;
    const start = child.offset + chunk.offset * dim;
    vec.set(values.subarray(start, start + chunk.length * dim), o * dim);
    o += chunk.length;
  }
  const index = Int32Array.from(table.getChild('index')!.toArray() as Int32Array);
  const label = Int32Array.from(table.getChild('label')!.toArray() as Int32Array);
  const split = table.getChild('split')!.toArray() as string[];
  const coarseCol = table.getChild('coarse_label');
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const s = String(split[i]);
    if (!groups.has(s)) groups.set(s, []);
    groups.get(s)!.push(i);
  }
  const splits: ExportSplit[] = [];
  for (const [name, rowsOf] of groups) {
    const e = new Float32Array(rowsOf.length * dim);
    rowsOf.forEach((r, i) => {
      e.set(vec.subarray(r * dim, r * dim + dim), i * dim);
    });
    const coarseVals = coarseCol ? rowsOf.map((r) => coarseCol.get(r) as number | null) : [];
    const allCoarse = coarseCol && coarseVals.every((v) => v !== null);
    splits.push({
      split: name,
      embeddings: { data: e, rows: rowsOf.length, dim },
      labels: Int32Array.from(rowsOf, (r) => label[r]!),
      indices: Int32Array.from(rowsOf, (r) => index[r]!),
      ...(allCoarse ? { coarseLabels: Int32Array.from(coarseVals as number[]) } : {}),
    });
  }
  return { splits, metadata: Object.fromEntries(table.schema.metadata) };
}
