import zlib from 'node:zlib';
import { HierError } from '@hier-ts/core';

/** An IDX array (the MNIST container): unsigned bytes only, which is all Fashion-MNIST uses. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses IDX bytes; gzip input (as distributed) is detected by its magic and inflated first. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  let buf = bytes;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (err) {
      throw new HierError('IDX_BAD_GZIP', `${file}: gzip stream is corrupt or truncated (${(err as Error).message})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0)
    throw new HierError('IDX_BAD_MAGIC', `${file}: not an IDX file (magic must start with two zero bytes)`);
  const type = buf[2]!;
  const ndim = buf[3]!;
  if (type !== 0x08) throw new HierError('IDX_UNSUPPORTED', `${file}: IDX element type 0x${type.toString(16)} unsupported (only 0x08 unsigned byte)`);
  if (ndim < 1 || buf.length < 4 + 4 * ndim) throw new HierError('IDX_TRUNCATED', `${file}: header truncated (${ndim} dimensions)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (buf.length - start !== count)
    throw new HierError('IDX_TRUNCATED', `${file}: dims [${dims.join(', ')}] need ${count} bytes of data, found ${buf.length - start}`);
  return { dims, data: buf.subarray(start) };
}

/** Serialises an IDX uint8 array (tests and fixtures; `gzip` as the official distribution). */
export function encodeIdx(dims: number[], data: Uint8Array, gzip = false): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  const raw = Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  return gzip ? zlib.gzipSync(raw) : raw;
}
