/**
 * Gumbel noise for HIER's straight-through LCA choice. The official code draws torch CUDA noise, which no port
 * can reproduce, so the source is injectable:
 * - `rng`: noise keyed by a fresh 32-bit seed drawn from a seeded `Rng` (@hier-ts/core) per stream (the
 *   training default), with Exp(1) variates from a ziggurat sampler (no logarithm on the fast path);
 * - `zero`: g = 0 (the choice becomes the arg-min of the max distances);
 * - `hash`: the portable counter-based noise of the golden vectors (README "Gumbel noise used instead of
 *   torch's RNG"): stream s, flat index n of the [T, N] matrix, seed → −ln(−ln u).
 * Streams per forward, in call order: 0 batch lca_ij, 1 batch lca_ijk, 2 proxy lca_ij, 3 proxy lca_ijk.
 *
 * All sources are counter-based (value = f(stream, flat index)).
 */
import type { Rng } from '@hier-ts/core';

export type GumbelSpec = { kind: 'rng'; rng: Rng } | { kind: 'zero' } | { kind: 'hash'; seed: number };

/**
 * Noise of one [T, N] stream. `at(t, l)` is the Gumbel value g; `expNegAt(t, l)` is e^−g = −ln u, the
 * Exp(1) variate behind it, which lets the loss work with e^{z+g} = e^z / expNegAt without a second logarithm.
 */
export interface GumbelStream {
  readonly zero: boolean;
  at(t: number, l: number): number;
  expNegAt(t: number, l: number): number;
  /** Fills `out` (length N) with e^−g of row t. */
  fillExpNeg(t: number, out: Float64Array): void;
}

/** Fills `out` with row t of a stream. */
export type GumbelRowFn = (t: number, out: Float64Array) => void;

export function lowbias32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

const TWO32 = 4294967296;

/** The golden "hash" noise value at flat index n of stream s. */
export function hashGumbel(seed: number, stream: number, n: number): number {
  const key = lowbias32((seed * 16 + stream) >>> 0);
  const u = (lowbias32((n ^ key) >>> 0) + 0.5) / TWO32;
  return -Math.log(-Math.log(u));
}

const ZERO_STREAM: GumbelStream = { zero: true, at: () => 0, expNegAt: () => 1, fillExpNeg: (_t, out) => out.fill(1) };

// Streams are class instances (not closures) so that the loss's per-row call site sees one stable target per
// kind across calls; fresh closures per call made V8 deoptimise the hinge loop ("wrong call target").
class KeyedStream implements GumbelStream {
  readonly zero = false;
  constructor(
    private readonly key: number,
    private readonly cols: number,
  ) {}
  expNegAt(t: number, l: number): number {
    return -Math.log((lowbias32(((t * this.cols + l) ^ this.key) >>> 0) + 0.5) / TWO32);
  }
  at(t: number, l: number): number {
    return -Math.log(this.expNegAt(t, l));
  }
  fillExpNeg(t: number, out: Float64Array): void {
    const base = t * this.cols;
    const key = this.key | 0;
    for (let l = 0; l < out.length; l++) {
      // lowbias32 kept in int32 (same bits): uint32 intermediates above 2^31 would make V8 fall back to doubles
      let x = (base + l) ^ key;
      x ^= x >>> 16;
      x = Math.imul(x, 0x7feb352d);
      x ^= x >>> 15;
      x = Math.imul(x, 0x846ca68b);
      x ^= x >>> 16;
      out[l] = -Math.log(((x >>> 0) + 0.5) / TWO32);
    }
  }
}

/*
 * Exp(1) by the ziggurat method (Marsaglia & Tsang 2000) with 256 layers, driven by a counter-based hash: most
 * draws cost one hash, one compare and one multiply instead of a logarithm. The layer index uses the low 8 bits
 * and the value the high 24 bits of the hash, so they are independent; values sit at the centre of their
 * 24-bit quantum, so E > 0 always.
 */
const ZIG_K = new Int32Array(256);
const ZIG_W = new Float64Array(256);
const ZIG_F = new Float64Array(256);
const ZIG_R = 7.69711747013105;
{
  const v = 3.949659822581572e-3;
  const m = 2 ** 24;
  let d = ZIG_R;
  let t = d;
  const q = v / Math.exp(-d);
  ZIG_K[0] = Math.floor((d / q) * m);
  ZIG_K[1] = 0;
  ZIG_W[0] = q / m;
  ZIG_W[255] = d / m;
  ZIG_F[0] = 1;
  ZIG_F[255] = Math.exp(-d);
  for (let i = 254; i >= 1; i--) {
    d = -Math.log(v / d + Math.exp(-d));
    ZIG_K[i + 1] = Math.floor((d / t) * m);
    t = d;
    ZIG_F[i] = Math.exp(-d);
    ZIG_W[i] = d / m;
  }
}

/** An Exp(1) variate from the 32-bit hash `h` (further hashes of h resolve the rare slow path). */
export function zigguratExp(h: number): number {
  let j = (h >>> 8) + 0.5;
  let i = h & 255;
  if (j < ZIG_K[i]) return j * ZIG_W[i];
  let s = h;
  for (;;) {
    s = lowbias32((s + 0x9e3779b9) >>> 0);
    if (i === 0) return ZIG_R - Math.log(((s >>> 0) + 0.5) / TWO32);
    const x = j * ZIG_W[i];
    const u = ((s >>> 0) + 0.5) / TWO32;
    if (ZIG_F[i] + u * (ZIG_F[i - 1] - ZIG_F[i]) < Math.exp(-x)) return x;
    s = lowbias32((s + 0x7f4a7c15) >>> 0);
    j = (s >>> 8) + 0.5;
    i = s & 255;
    if (j < ZIG_K[i]) return j * ZIG_W[i];
  }
}

class ZigguratStream implements GumbelStream {
  readonly zero = false;
  constructor(
    private readonly key: number,
    private readonly cols: number,
  ) {}
  expNegAt(t: number, l: number): number {
    return zigguratExp(lowbias32(((t * this.cols + l) ^ this.key) >>> 0));
  }
  at(t: number, l: number): number {
    return -Math.log(this.expNegAt(t, l));
  }
  fillExpNeg(t: number, out: Float64Array): void {
    const base = t * this.cols;
    const key = this.key | 0;
    for (let l = 0; l < out.length; l++) {
      // lowbias32 kept in int32 (same bits): uint32 intermediates above 2^31 would make V8 fall back to doubles
      let x = (base + l) ^ key;
      x ^= x >>> 16;
      x = Math.imul(x, 0x7feb352d);
      x ^= x >>> 15;
      x = Math.imul(x, 0x846ca68b);
      x ^= x >>> 16;
      // +0.5 centres each 24-bit quantum so E is never exactly 0 (e^{z+g} = e^z/E must stay finite)
      const j = (x >>> 8) + 0.5;
      const i = x & 255;
      out[l] = j < ZIG_K[i] ? j * ZIG_W[i] : zigguratExp(x >>> 0);
    }
  }
}

/** The stream `stream` (0..3) of shape [T, cols] for one forward pass. */
export function gumbelStream(spec: GumbelSpec, stream: number, cols: number): GumbelStream {
  if (spec.kind === 'zero') return ZERO_STREAM;
  if (spec.kind === 'hash') return new KeyedStream(lowbias32((spec.seed * 16 + stream) >>> 0), cols);
  return new ZigguratStream(lowbias32(spec.rng.nextUint32()), cols);
}

/** Whole rows of a stream (tests and diagnostics). */
export function gumbelRows(spec: GumbelSpec, stream: number, cols: number): GumbelRowFn {
  const s = gumbelStream(spec, stream, cols);
  return (t, out) => {
    for (let l = 0; l < cols; l++) out[l] = s.at(t, l);
  };
}
