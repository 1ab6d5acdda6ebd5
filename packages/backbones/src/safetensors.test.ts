import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16, parseSafetensors, readSafetensors, serializeSafetensors } from './index.js';

const DIR = '/work/shared/golden/models';
const haveGolden = fs.existsSync(path.join(DIR, 'reader_edge.safetensors'));

describe('safetensors reader', () => {
  it.skipIf(!haveGolden)('decodes every reader_edge tensor exactly (F32, F16, BF16, I64 scalar/vector, empty, unaligned start)', () => {
    const ref = JSON.parse(fs.readFileSync(path.join(DIR, 'reader_edge.json'), 'utf8'));
    const f = readSafetensors(path.join(DIR, 'reader_edge.safetensors'));
    expect(f.headerLength).toBe(ref.header_len);
    expect(f.dataStart).toBe(ref.data_start);
    expect(f.metadata).toEqual(ref.metadata);
    expect([...f.tensors.keys()].sort()).toEqual(Object.keys(ref.tensors).sort());
    for (const [name, t] of Object.entries<Record<string, unknown>>(ref.tensors)) {
      const e = f.tensors.get(name)!;
      expect(e.dtype).toBe(t.dtype);
      expect(e.shape).toEqual(t.shape);
      expect(e.dataOffsets).toEqual(t.data_offsets);
      if (e.int64) expect([...e.int64]).toEqual((t.values as number[]).map((v) => BigInt(v)));
      else expect([...e.values]).toEqual([...Float32Array.from((t.values_as_float32 ?? t.values) as number[])]);
      if (t.bits_u16) expect([...e.bits16!]).toEqual(t.bits_u16);
    }
    expect(Object.is(f.tensors.get('m.f16_8')!.values[1], -0)).toBe(true);
    expect(f.tensors.get('num_batches_tracked')!.values.length).toBe(1);
  });

  it.skipIf(!haveGolden)('rejects a truncated copy of a real file, naming the file and the tensor', () => {
    const bytes = fs.readFileSync(path.join(DIR, 'vit_tiny_d2.f32.safetensors'));
    const cut = bytes.subarray(0, bytes.length - 100);
    expect(() => parseSafetensors(cut, 'cut.safetensors')).toThrowError(/cut\.safetensors: tensor 'norm\.bias' ends at .* truncated/);
    expect(() => parseSafetensors(bytes.subarray(0, 1000), 'x')).toThrowError(/header length 2824 exceeds/);
  });

  it('rejects files that are not safetensors', () => {
    expect(() => parseSafetensors(new Uint8Array(5), 'tiny.bin')).toThrowError(HierError);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    expect(() => parseSafetensors(png, 'a.png')).toThrowError(/a\.png: header length .* not a safetensors file/);
    const notJson = serializeSafetensors([]);
    notJson[8] = 0x7b;
    notJson[9] = 0x7b;
    expect(() => parseSafetensors(notJson, 'b')).toThrowError(/not valid UTF-8 JSON/);
    expect(() => readSafetensors('/nonexistent/w.safetensors')).toThrowError(/cannot read weights file '\/nonexistent\/w\.safetensors'/);
  });

  it('rejects a header whose offsets disagree with dtype and shape', () => {
    const enc = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }));
    const bytes = new Uint8Array(8 + enc.length + 12);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(enc.length), true);
    bytes.set(enc, 8);
    expect(() => parseSafetensors(bytes, 'bad')).toThrowError(/tensor 'w' \(F32 \[2, 2\]\) needs 16 bytes but data_offsets \[0, 12\) span 12/);
  });

  it('writes F32 and F16 files that read back (padded header, RNE rounding)', () => {
    const a = Float32Array.from([1, -2.5, 0.1, 65504, 1e-8, -0]);
    const bytes = serializeSafetensors([['a', { shape: [2, 3], values: a }]], { metadata: { k: 'v' } });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const back = parseSafetensors(bytes);
    expect([...back.tensors.get('a')!.values]).toEqual([...a]);
    expect(back.metadata).toEqual({ k: 'v' });
    const half = parseSafetensors(serializeSafetensors([['a', { shape: [6], values: a }]], { dtype: 'F16' })).tensors.get('a')!;
    expect(half.dtype).toBe('F16');
    expect([...half.values]).toEqual([1, -2.5, f16ToF32(f32ToF16(0.1)), 65504, 0, -0]);
    expect(f32ToF16(0.1)).toBe(0x2e66);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(2 ** -24)).toBe(1);
    expect(f32ToF16(1e6)).toBe(0x7c00);
  });
});
