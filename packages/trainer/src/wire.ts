/**
 * Length-prefixed frames for replica messages over a byte stream (node:net sockets between processes). A message
 * is a JSON document whose typed arrays travel as raw bytes after it, so gradients are not turned into text:
 *   u32 frame length | u32 JSON length | JSON | blob bytes…   (little-endian)
 */
import { HierError } from '@hier-ts/core';

type Typed = Float32Array | Int32Array | Uint8Array | Float64Array;
const CTORS = { f32: Float32Array, i32: Int32Array, u8: Uint8Array, f64: Float64Array } as const;
type Kind = keyof typeof CTORS;

function kindOf(v: unknown): Kind | null {
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Uint8Array) return 'u8';
  if (v instanceof Float64Array) return 'f64';
  return null;
}

export function encodeFrame(msg: unknown): Buffer {
  const blobs: Typed[] = [];
  const json = JSON.stringify(msg, (_k, v) => {
    const kind = kindOf(v);
    if (kind) {
      blobs.push(v as Typed);
      return { __blob: blobs.length - 1, kind, length: (v as Typed).length };
    }
    return v;
  });
  const jsonBuf = Buffer.from(json, 'utf8');
  const blobBytes = blobs.reduce((s, b) => s + b.byteLength, 0);
  const out = Buffer.allocUnsafe(8 + jsonBuf.length + blobBytes);
  out.writeUInt32LE(4 + jsonBuf.length + blobBytes, 0);
  out.writeUInt32LE(jsonBuf.length, 4);
  jsonBuf.copy(out, 8);
  let o = 8 + jsonBuf.length;
  for (const b of blobs) {
    out.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), o);
    o += b.byteLength;
  }
  return out;
}

function decodeBody(body: Buffer): unknown {
  const jsonLen = body.readUInt32LE(0);
  const json = body.subarray(4, 4 + jsonLen).toString('utf8');
  let o = 4 + jsonLen;
  const descs: { kind: Kind; length: number }[] = [];
  JSON.parse(json, (_k, v) => {
    if (v && typeof v === 'object' && '__blob' in v) descs[v.__blob as number] = { kind: v.kind, length: v.length };
    return v;
  });
  const arrays: Typed[] = descs.map((d) => {
    const Ctor = CTORS[d.kind];
    const bytes = d.length * Ctor.BYTES_PER_ELEMENT;
    // Copy into a fresh, aligned buffer: the frame's offset is arbitrary.
    const a = new Ctor(d.length);
    new Uint8Array(a.buffer).set(body.subarray(o, o + bytes));
    o += bytes;
    return a;
  });
  return JSON.parse(json, (_k, v) => (v && typeof v === 'object' && '__blob' in v ? arrays[v.__blob as number] : v));
}

/** Accumulates stream chunks and yields whole messages. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.have += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.have < 4) break;
      const head = this.peek(4);
      const len = head.readUInt32LE(0);
      if (len > 2 ** 31) throw new HierError('E_WIRE', `corrupt replica frame (length ${len})`);
      if (this.have < 4 + len) break;
      const all = Buffer.concat(this.chunks, this.have);
      out.push(decodeBody(all.subarray(4, 4 + len)));
      const rest = all.subarray(4 + len);
      this.chunks = rest.length ? [Buffer.from(rest)] : [];
      this.have = rest.length;
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.have).subarray(0, n);
  }
}
