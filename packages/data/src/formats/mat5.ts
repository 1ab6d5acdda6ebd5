import zlib from 'node:zlib';
import { HierError } from '@hier-ts/core';

/** MATLAB array classes (the low byte of the array-flags word). */
export const MAT_CLASS = {
  1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8',
  10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
} as const;
export type MatClass = (typeof MAT_CLASS)[keyof typeof MAT_CLASS];

export type MatValue =
  | { kind: 'numeric'; class: MatClass; dims: number[]; logical: boolean; real: number[]; imag?: number[] }
  | { kind: 'char'; dims: number[]; text: string }
  | { kind: 'cell'; dims: number[]; cells: MatValue[] }
  | { kind: 'struct'; dims: number[]; fields: string[]; elements: Record<string, MatValue>[] }
  | { kind: 'empty' };

const MI = { int8: 1, uint8: 2, int16: 3, uint16: 4, int32: 5, uint32: 6, single: 7, double: 9, int64: 12, uint64: 13, matrix: 14, compressed: 15, utf8: 16, utf16: 17, utf32: 18 } as const;

interface Element {
  type: number;
  data: Uint8Array;
  next: number;
}

class Cursor {
  constructor(
    readonly buf: Uint8Array,
    readonly le: boolean,
    readonly file: string,
  ) {}
  private view(bytes: Uint8Array): DataView {
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32(at: number): number {
    if (at + 4 > this.buf.length) this.fail(`element tag at byte ${at} runs past the end (${this.buf.length} bytes)`);
    return this.view(this.buf).getUint32(at, this.le);
  }
  fail(msg: string): never {
    throw new HierError('MAT_MALFORMED', `${this.file}: ${msg}`);
  }
  /** One data element: the plain 8-byte tag, or the small format (byte count ≤ 4 in the high half-word). */
  element(at: number): Element {
    const w = this.u32(at);
    if (w >>> 16 !== 0) {
      const n = w >>> 16;
      if (n > 4) this.fail(`small data element at byte ${at} claims ${n} bytes (max 4)`);
      return { type: w & 0xffff, data: this.buf.subarray(at + 4, at + 4 + n), next: at + 8 };
    }
    const n = this.u32(at + 4);
    const start = at + 8;
    if (start + n > this.buf.length) this.fail(`element of type ${w} at byte ${at} needs ${n} bytes, only ${this.buf.length - start} remain (truncated file?)`);
    // Compressed elements are not padded; everything else is padded to 8 bytes.
    const next = w === MI.compressed ? start + n : start + Math.ceil(n / 8) * 8;
    return { type: w, data: this.buf.subarray(start, start + n), next };
  }
  numbers(el: Element, where: string): number[] {
    const { type, data } = el;
    const v = this.view(data);
    const width = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 }[type];
    if (width === undefined) this.fail(`${where}: data type ${type} is not numeric`);
    if (data.length % width !== 0) this.fail(`${where}: ${data.length} bytes is not a multiple of the type-${type} width ${width}`);
    const out = new Array<number>(data.length / width);
    for (let i = 0; i < out.length; i++) {
      const o = i * width;
      switch (type) {
        case MI.int8: out[i] = v.getInt8(o); break;
        case MI.uint8: case MI.utf8: out[i] = v.getUint8(o); break;
        case MI.int16: out[i] = v.getInt16(o, this.le); break;
        case MI.uint16: case MI.utf16: out[i] = v.getUint16(o, this.le); break;
        case MI.int32: out[i] = v.getInt32(o, this.le); break;
        case MI.uint32: case MI.utf32: out[i] = v.getUint32(o, this.le); break;
        case MI.single: out[i] = v.getFloat32(o, this.le); break;
        case MI.double: out[i] = v.getFloat64(o, this.le); break;
        case MI.int64: out[i] = Number(v.getBigInt64(o, this.le)); break;
        default: out[i] = Number(v.getBigUint64(o, this.le));
      }
    }
    return out;
  }
}

/** Parses the body of one miMATRIX element. */
function parseMatrix(c: Cursor, body: Uint8Array, where: string): { name: string; value: MatValue } {
  if (body.length === 0) return { name: '', value: { kind: 'empty' } };
  const sub = new Cursor(body, c.le, c.file);
  const flagsEl = sub.element(0);
  const flags = sub.numbers(flagsEl, `${where} array flags`);
  const classId = (flags[0] ?? 0) & 0xff;
  const complex = ((flags[0] ?? 0) & 0x800) !== 0;
  const logical = ((flags[0] ?? 0) & 0x200) !== 0;
  const cls = MAT_CLASS[classId as keyof typeof MAT_CLASS];
  if (!cls) c.fail(`${where}: unknown array class ${classId}`);
  const dimsEl = sub.element(flagsEl.next);
  const dims = sub.numbers(dimsEl, `${where} dimensions`);
  const nameEl = sub.element(dimsEl.next);
  const name = Buffer.from(nameEl.data).toString('latin1');
  const label = name ? `${where} "${name}"` : where;
  const count = dims.reduce((a, b) => a * b, 1);
  let at = nameEl.next;
  switch (cls) {
    case 'cell': {
      const cells: MatValue[] = [];
      for (let i = 0; i < count; i++) {
        const el = sub.element(at);
        if (el.type !== MI.matrix) c.fail(`${label} cell ${i}: expected a nested miMATRIX, got type ${el.type}`);
        cells.push(parseMatrix(c, el.data, `${label}{${i + 1}}`).value);
        at = el.next;
      }
      return { name, value: { kind: 'cell', dims, cells } };
    }
    case 'struct': {
      const lenEl = sub.element(at);
      const fieldLen = sub.numbers(lenEl, `${label} field-name length`)[0] ?? 0;
      const namesEl = sub.element(lenEl.next);
      if (fieldLen <= 0 || namesEl.data.length % fieldLen !== 0) c.fail(`${label}: field names (${namesEl.data.length} bytes) are not a multiple of the name length ${fieldLen}`);
      const fields: string[] = [];
      for (let o = 0; o < namesEl.data.length; o += fieldLen) {
        const raw = namesEl.data.subarray(o, o + fieldLen);
        const end = raw.indexOf(0);
        fields.push(Buffer.from(end < 0 ? raw : raw.subarray(0, end)).toString('latin1'));
      }
      at = namesEl.next;
      const elements: Record<string, MatValue>[] = [];
      for (let i = 0; i < count; i++) {
        const rec: Record<string, MatValue> = {};
        for (const f of fields) {
          const el = sub.element(at);
          if (el.type !== MI.matrix) c.fail(`${label}(${i + 1}).${f}: expected a nested miMATRIX, got type ${el.type}`);
          rec[f] = parseMatrix(c, el.data, `${label}(${i + 1}).${f}`).value;
          at = el.next;
        }
        elements.push(rec);
      }
      return { name, value: { kind: 'struct', dims, fields, elements } };
    }
    case 'char': {
      if (count === 0) return { name, value: { kind: 'char', dims, text: '' } };
      const el = sub.element(at);
      let text: string;
      if (el.type === MI.utf8) text = Buffer.from(el.data).toString('utf8');
      else {
        const units = sub.numbers(el, `${label} characters`);
        text = el.type === MI.utf32 ? String.fromCodePoint(...units) : String.fromCharCode(...units);
      }
      return { name, value: { kind: 'char', dims, text } };
    }
    case 'object':
    case 'sparse':
      return c.fail(`${label}: MATLAB ${cls} arrays are not supported`);
    default: {
      if (count === 0) return { name, value: { kind: 'numeric', class: cls, dims, logical, real: [] } };
      const realEl = sub.element(at);
      const real = sub.numbers(realEl, `${label} real part`);
      if (real.length !== count) c.fail(`${label}: dims [${dims.join('×')}] need ${count} values, the real part has ${real.length}`);
      const value: MatValue = { kind: 'numeric', class: cls, dims, logical, real };
      if (complex) value.imag = sub.numbers(sub.element(realEl.next), `${label} imaginary part`);
      return { name, value };
    }
  }
}

/**
 * Reads a MAT-file Level 5 ("v5"/"v6"/"v7": plain and zlib-compressed variables). v7.3 files are HDF5 and
 * Level 4 files have no header; both are rejected with a message that says how to convert.
 */
export function readMat5(bytes: Uint8Array, file = '<buffer>'): Map<string, MatValue> {
  if (bytes.length >= 520 && Buffer.from(bytes.subarray(512, 516)).toString('latin1') === '\x89HDF')
    throw new HierError('MAT_V73', `${file} is a MATLAB v7.3 (HDF5) file; save it with -v7 (or read it with an HDF5 tool) to use it here`);
  if (bytes.length < 128) throw new HierError('MAT_NOT_LEVEL5', `${file}: ${bytes.length} bytes is too short for a MAT-file Level 5 header (128 bytes)`);
  const text = Buffer.from(bytes.subarray(0, 116)).toString('latin1');
  if (/MATLAB 7\.3/.test(text)) throw new HierError('MAT_V73', `${file} is a MATLAB v7.3 (HDF5) file; save it with -v7 to use it here`);
  const endian = Buffer.from(bytes.subarray(126, 128)).toString('latin1');
  if (endian !== 'IM' && endian !== 'MI') throw new HierError('MAT_NOT_LEVEL5', `${file} is not a MAT-file Level 5 (no "IM"/"MI" endian mark at byte 126; Level 4 files are not supported)`);
  const le = endian === 'IM';
  const version = new DataView(bytes.buffer, bytes.byteOffset).getUint16(124, le);
  if (version !== 0x0100) throw new HierError('MAT_NOT_LEVEL5', `${file}: header version 0x${version.toString(16)} (Level 5 has 0x0100)`);
  const c = new Cursor(bytes, le, file);
  const vars = new Map<string, MatValue>();
  let at = 128;
  while (at + 8 <= bytes.length) {
    const el = c.element(at);
    let matrix = el;
    if (el.type === MI.compressed) {
      let inflated: Uint8Array;
      try {
        inflated = zlib.inflateSync(el.data);
      } catch (err) {
        throw new HierError('MAT_MALFORMED', `${file}: compressed variable at byte ${at} does not inflate (${(err as Error).message})`);
      }
      matrix = new Cursor(inflated, le, file).element(0);
    }
    if (matrix.type === MI.matrix) {
      const { name, value } = parseMatrix(c, matrix.data, `variable at byte ${at}`);
      vars.set(name, value);
    }
    at = el.next;
  }
  return vars;
}

/** Rows of a char matrix (column-major storage), trailing blanks kept. */
export function matCharRows(v: MatValue): string[] {
  if (v.kind !== 'char') throw new HierError('MAT_TYPE', `expected a char array, got ${v.kind}`);
  const [rows = 0, cols = 0] = v.dims;
  if (rows <= 1) return [v.text];
  const chars = [...v.text];
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, k) => chars[k * rows + r] ?? '').join(''));
}

/** The single number of a 1×1 numeric array. */
export function matScalar(v: MatValue | undefined, what: string): number {
  if (v?.kind !== 'numeric' || v.real.length !== 1) throw new HierError('MAT_TYPE', `${what}: expected a 1×1 numeric value, got ${v ? (v.kind === 'numeric' ? `${v.real.length} values` : v.kind) : 'nothing'}`);
  return v.real[0]!;
}
