/**
 * hash-v1: the portable weight formula of the golden model vectors (golden/models/README.md). Every tensor's
 * values follow from its name, shape and kind, so parity tests need no weight files.
 */
export type HashKind =
  | 'weight'
  | 'bias'
  | 'ln_weight'
  | 'ln_bias'
  | 'bn_weight'
  | 'bn_bias'
  | 'bn_running_mean'
  | 'bn_running_var'
  | 'token'
  | 'input'
  | 'count';

export const HASH_KINDS: readonly HashKind[] = [
  'weight',
  'bias',
  'ln_weight',
  'ln_bias',
  'bn_weight',
  'bn_bias',
  'bn_running_mean',
  'bn_running_var',
  'token',
  'input',
  'count',
];

function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

function fnv1a32(name: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(name)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** hash-v1 values of a tensor in PyTorch layout (conv OIHW, linear [out, in]). `count` gives zeros. */
export function hashValues(name: string, shape: readonly number[], kind: HashKind): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  if (kind === 'count') return out;
  const fanIn = shape.slice(1).reduce((p, d) => p * d, 1);
  const a = Math.sqrt(3 / fanIn);
  const key = lowbias32(fnv1a32(name));
  for (let i = 0; i < n; i++) {
    const u = (lowbias32((i ^ key) >>> 0) + 0.5) / 4294967296;
    const s = 2 * u - 1;
    let v: number;
    switch (kind) {
      case 'weight':
        v = s * a;
        break;
      case 'bias':
      case 'ln_bias':
      case 'token':
        v = s * 0.02;
        break;
      case 'ln_weight':
      case 'bn_weight':
        v = 1 + s * 0.1;
        break;
      case 'bn_bias':
        v = s * 0.05;
        break;
      case 'bn_running_mean':
        v = s * 0.1;
        break;
      case 'bn_running_var':
        v = 1 + u * 0.5;
        break;
      case 'input':
        v = s * 1.7;
        break;
    }
    out[i] = v;
  }
  return out;
}

/** sum_n imul(bits_n, 2n+1) mod 2^32 over float32 (or uint16/uint32) bit patterns. */
export function checksumU32(values: Float32Array | Uint32Array | Uint16Array): number {
  const bits = values instanceof Float32Array ? new Uint32Array(values.buffer, values.byteOffset, values.length) : values;
  let acc = 0;
  for (let n = 0; n < bits.length; n++) acc = (acc + Math.imul(bits[n]!, 2 * n + 1)) >>> 0;
  return acc;
}
