// Test-only MAT-file Level 5 writer, so the reader is checked against bytes we lay out by hand.
import zlib from 'node:zlib';

export type WriteValue =
  | { kind: 'numeric'; cls: 'double' | 'single' | 'uint8' | 'uint16' | 'int32' | 'int64' | 'uint64'; storage?: 'uint8' | 'uint16' | 'double' | 'int32' | 'single' | 'int64'; dims?: number[]; data: number[]; imag?: number[]; logical?: boolean }
  | { kind: 'char'; text: string; utf8?: boolean; dims?: number[] }
  | { kind: 'cell'; dims: number[]; cells: WriteValue[] }
  | { kind: 'struct'; dims: number[]; fields: string[]; elements: Record<string, WriteValue>[] }
  | { kind: 'empty' };

const MI: Record<string, [number, number]> = { int8: [1, 1], uint8: [2, 1], int16: [3, 2], uint16: [4, 2], int32: [5, 4], uint32: [6, 4], single: [7, 4], double: [9, 8], int64: [12, 8], uint64: [13, 8], utf8: [16, 1] };
const CLASS: Record<string, number> = { cell: 1, struct: 2, char: 4, double: 6, single: 7, uint8: 9, uint16: 11, int32: 12, int64: 14, uint64: 15 };

function encode(type: string, values: number[]): Buffer {
  const [, w] = MI[type]!;
  const b = Buffer.alloc(values.length * w);
  values.forEach((v, i) => {
    const o = i * w;
    if (type === 'int8') b.writeInt8(v, o);
    else if (type === 'uint8' || type === 'utf8') b.writeUInt8(v, o);
    else if (type === 'int16') b.writeInt16LE(v, o);
    else if (type === 'uint16') b.writeUInt16LE(v, o);
    else if (type === 'int32') b.writeInt32LE(v, o);
    else if (type === 'uint32') b.writeUInt32LE(v, o);
    else if (type === 'single') b.writeFloatLE(v, o);
    else if (type === 'double') b.writeDoubleLE(v, o);
    else if (type === 'int64') b.writeBigInt64LE(BigInt(v), o);
    else b.writeBigUInt64LE(BigInt(v), o);
  });
  return b;
}

/** A data element; bytes ≤ 4 use the small format (as MATLAB does for names and 1×1 values). */
function element(typeCode: number, data: Buffer, allowSmall = true): Buffer {
  if (allowSmall && data.length <= 4 && data.length > 0) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(((data.length << 16) | typeCode) >>> 0, 0);
    data.copy(b, 4);
    return b;
  }
  const pad = (8 - (data.length % 8)) % 8;
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(typeCode, 0);
  tag.writeUInt32LE(data.length, 4);
  return Buffer.concat([tag, data, Buffer.alloc(pad)]);
}

function typed(type: string, values: number[]): Buffer {
  return element(MI[type]![0], encode(type, values));
}

function matrix(name: string, v: WriteValue): Buffer {
  if (v.kind === 'empty') return element(14, Buffer.alloc(0), false);
  const head = (cls: number, dims: number[], flagsExtra = 0) =>
    Buffer.concat([element(6, encode('uint32', [cls | flagsExtra, 0]), false), element(5, encode('int32', dims), false), element(1, Buffer.from(name, 'latin1'))]);
  let body: Buffer;
  if (v.kind === 'numeric') {
    const dims = v.dims ?? [1, v.data.length];
    const flags = (v.imag ? 0x800 : 0) | (v.logical ? 0x200 : 0);
    const parts = [head(CLASS[v.cls]!, dims, flags), typed(v.storage ?? v.cls, v.data)];
    if (v.imag) parts.push(typed(v.storage ?? v.cls, v.imag));
    body = Buffer.concat(parts);
  } else if (v.kind === 'char') {
    const dims = v.dims ?? [v.text.length === 0 ? 0 : 1, v.text.length];
    const data = v.utf8 ? element(16, Buffer.from(v.text, 'utf8')) : typed('uint16', [...v.text].map((ch) => ch.charCodeAt(0)));
    body = Buffer.concat([head(CLASS.char!, dims), ...(v.text.length ? [data] : [])]);
  } else if (v.kind === 'cell') {
    body = Buffer.concat([head(CLASS.cell!, v.dims), ...v.cells.map((c) => matrix('', c))]);
  } else {
    const len = 32;
    const names = Buffer.alloc(len * v.fields.length);
    v.fields.forEach((f, i) => {
      names.write(f, i * len, 'latin1');
    });
    const parts = [head(CLASS.struct!, v.dims), element(5, encode('int32', [len])), element(1, names)];
    for (const e of v.elements) for (const f of v.fields) parts.push(matrix('', e[f]!));
    body = Buffer.concat(parts);
  }
  return element(14, body, false);
}

export function writeMat5(vars: { name: string; value: WriteValue }[], options: { compress: boolean }): Buffer {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, Platform: hier-ts test, Created on: never', 0, 'latin1');
  header.fill(0, 116, 124);
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  const parts = vars.map(({ name, value }) => {
    const m = matrix(name, value);
    if (!options.compress) return m;
    const z = zlib.deflateSync(m);
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(15, 0);
    tag.writeUInt32LE(z.length, 4);
    return Buffer.concat([tag, z]);
  });
  return Buffer.concat([header, ...parts]);
}
