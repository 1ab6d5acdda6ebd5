import fs from 'node:fs';
import { HierError } from '@hier-ts/core';

/** Element types we decode. Floats become float32; I64 stays exact as BigInt64Array. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };

export interface SafetensorsEntry {
  name: string;
  /** The stored dtype. */
  dtype: SafetensorsDtype;
  shape: number[];
  /** Floats (F32/F16/BF16/F64), I32, U8 and BOOL decoded to float32 exactly (F64 rounded once). */
  values: Float32Array;
  /** I64 tensors keep exact values here (values holds a float32 rounding). */
  int64?: BigInt64Array;
  /** Raw 16-bit patterns for F16/BF16. */
  bits16?: Uint16Array;
  dataOffsets: [number, number];
}

export interface SafetensorsFile {
  /** Entries in header order. */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  headerLength: number;
  dataStart: number;
}

function fail(source: string, message: string): never {
  throw new HierError('E_SAFETENSORS', `${source}: ${message}`);
}

/** Exact IEEE half → float32 (subnormals, ±0, inf and NaN included). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 → IEEE half, round to nearest even (as torch's `.half()`). */
export function f32ToF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/**
 * Parses a safetensors buffer: u64-LE header length N, N bytes of JSON header, then the data section that the
 * `data_offsets` index (relative to byte 8+N). Everything is validated before any tensor is decoded.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (bytes.byteLength < 8) fail(source, `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length: not a safetensors file (or truncated)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.byteLength - 8)) {
    fail(source, `header length ${n64} exceeds the ${bytes.byteLength - 8} bytes after the length field: not a safetensors file, or truncated`);
  }
  const headerLength = Number(n64);
  const dataStart = 8 + headerLength;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    fail(source, `the ${headerLength}-byte header is not valid UTF-8 JSON (${(err as Error).message}): not a safetensors file`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'the header is not a JSON object');
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  const specs: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) metadata[k] = String(v);
      continue;
    }
    const spec = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = spec?.dtype as SafetensorsDtype;
    if (!(typeof dtype === 'string' && dtype in DTYPE_BYTES)) fail(source, `tensor '${name}' has unsupported dtype ${JSON.stringify(spec?.dtype)}`);
    const shape = spec.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(source, `tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    const off = spec.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
      fail(source, `tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const numel = (shape as number[]).reduce((p, d) => p * d, 1);
    if (end - begin !== numel * DTYPE_BYTES[dtype]) {
      fail(source, `tensor '${name}' (${dtype} [${(shape as number[]).join(', ')}]) needs ${numel * DTYPE_BYTES[dtype]} bytes but data_offsets [${begin}, ${end}) span ${end - begin}`);
    }
    if (end > dataLength) {
      fail(source, `tensor '${name}' ends at data byte ${end} but the data section holds only ${dataLength} bytes: the file is truncated`);
    }
    specs.push({ name, dtype, shape: shape as number[], begin, end });
  }
  for (const s of specs) {
    // Copy first: the data start may be unaligned for typed-array views.
    // (A Node Buffer's slice() is a view, so copy through the Uint8Array constructor.)
    const chunk = new Uint8Array(bytes.subarray(dataStart + s.begin, dataStart + s.end));
    const cdv = new DataView(chunk.buffer);
    const numel = s.shape.reduce((p, d) => p * d, 1);
    const values = new Float32Array(numel);
    const entry: SafetensorsEntry = { name: s.name, dtype: s.dtype, shape: s.shape, values, dataOffsets: [s.begin, s.end] };
    switch (s.dtype) {
      case 'F32':
        for (let i = 0; i < numel; i++) values[i] = cdv.getFloat32(4 * i, true);
        break;
      case 'F64':
        for (let i = 0; i < numel; i++) values[i] = cdv.getFloat64(8 * i, true);
        break;
      case 'F16':
      case 'BF16': {
        const bits = new Uint16Array(numel);
        for (let i = 0; i < numel; i++) bits[i] = cdv.getUint16(2 * i, true);
        entry.bits16 = bits;
        if (s.dtype === 'F16') for (let i = 0; i < numel; i++) values[i] = f16ToF32(bits[i]!);
        else {
          const u = new Uint32Array(values.buffer);
          for (let i = 0; i < numel; i++) u[i] = bits[i]! << 16;
        }
        break;
      }
      case 'I64': {
        const ints = new BigInt64Array(numel);
        for (let i = 0; i < numel; i++) {
          ints[i] = cdv.getBigInt64(8 * i, true);
          values[i] = Number(ints[i]);
        }
        entry.int64 = ints;
        break;
      }
      case 'I32':
        for (let i = 0; i < numel; i++) values[i] = cdv.getInt32(4 * i, true);
        break;
      case 'U8':
      case 'BOOL':
        for (let i = 0; i < numel; i++) values[i] = chunk[i]!;
        break;
    }
    tensors.set(s.name, entry);
  }
  return { tensors, metadata, headerLength, dataStart };
}

export function readSafetensors(file: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new HierError('E_SAFETENSORS', `cannot read weights file '${file}': ${(err as Error).message}`);
  }
  return parseSafetensors(bytes, file);
}

export interface TensorToWrite {
  shape: readonly number[];
  values: Float32Array;
}

/**
 * Serialises float32 tensors (stored as F32, or F16 with round-to-nearest-even) in the given order, with the
 * header space-padded to a multiple of 8 as the reference writer does.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, TensorToWrite> | [string, TensorToWrite][],
  options: { metadata?: Record<string, string>; dtype?: 'F32' | 'F16' } = {},
): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  const width = dtype === 'F32' ? 4 : 2;
  const entries = tensors instanceof Map ? [...tensors.entries()] : (tensors as [string, TensorToWrite][]);
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const numel = t.shape.reduce((p: number, d: number) => p * d, 1);
    if (numel !== t.values.length) {
      throw new HierError('E_SAFETENSORS', `tensor '${name}': shape [${t.shape.join(', ')}] holds ${numel} values but ${t.values.length} were given`);
    }
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + numel * width] };
    offset += numel * width;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hbytes = enc.encode(json);
  const pad = (8 - (hbytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    hbytes = enc.encode(json);
  }
  const out = new Uint8Array(8 + hbytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const [, t] of entries) {
    if (dtype === 'F32') {
      for (let i = 0; i < t.values.length; i++, pos += 4) dv.setFloat32(pos, t.values[i]!, true);
    } else {
      for (let i = 0; i < t.values.length; i++, pos += 2) dv.setUint16(pos, f32ToF16(t.values[i]!), true);
    }
  }
  return out;
}
