/**
 * Gumbel noise for HIER's straight-through LCA choice. The official code draws torch CUDA noise, which no port
 * can reproduce, so the source is injectable:
 * - `rng`: noise keyed by a fresh 32-bit seed drawn from a seeded `Rng` (@hier-ts/core) per stream (the
 *   training default);
 * - `zero`: g = 0 (the choice becomes the arg-min of the max distances);
 * - `hash`: the portable counter-based noise of the golden vectors (README "Gumbel noise used instead of
 *   torch's RNG"): stream s, flat index n of the [T, N] matrix, seed → −ln(−ln u).
 * Streams per forward, in call order: 0 batch lca_ij, 1 batch lca_ijk, 2 proxy lca_ij, 3 proxy lca_ijk.
 *
 * All sources are counter-based (value = f(stream, flat index)), so the loss evaluates noise only where it can
 * change the result, and each source states hard bounds on its values for that purpose.
 */
import type { Rng } from '@hier-ts/core';

export type GumbelSpec = { kind: 'rng'; rng: Rng } | { kind: 'zero' } | { kind: 'hash'; seed: number };

/** Noise of one [T, N] stream: `at(t, l)` and hard bounds lo <= g <= hi. */
export interface GumbelStream {
  readonly lo: number;
  readonly hi: number;
  at(t: number, l: number): number;
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
/** u ranges over [0.5, 2^32 − 0.5] / 2^32, so −ln(−ln u) is bounded. */
const HASH_LO = -Math.log(-Math.log(0.5 / TWO32));
const HASH_HI = -Math.log(-Math.log((TWO32 - 0.5) / TWO32));

/** The golden "hash" noise value at flat index n of stream s. */
export function hashGumbel(seed: number, stream: number, n: number): number {
  const key = lowbias32((seed * 16 + stream) >>> 0);
  const u = (lowbias32((n ^ key) >>> 0) + 0.5) / TWO32;
  return -Math.log(-Math.log(u));
}

const ZERO_STREAM: GumbelStream = { lo: 0, hi: 0, at: () => 0 };

function keyedStream(key: number, cols: number): GumbelStream {
  return {
    lo: HASH_LO,
    hi: HASH_HI,
    at(t: number, l: number): number {
      const u = (lowbias32(((t * cols + l) ^ key) >>> 0) + 0.5) / TWO32;
      return -Math.log(-Math.log(u));
    },
  };
}

/** The stream `stream` (0..3) of shape [T, cols] for one forward pass. */
export function gumbelStream(spec: GumbelSpec, stream: number, cols: number): GumbelStream {
  if (spec.kind === 'zero') return ZERO_STREAM;
  if (spec.kind === 'hash') return keyedStream(lowbias32((spec.seed * 16 + stream) >>> 0), cols);
  return keyedStream(lowbias32(spec.rng.nextUint32()), cols);
}

/** Whole rows of a stream (tests and diagnostics). */
export function gumbelRows(spec: GumbelSpec, stream: number, cols: number): GumbelRowFn {
  const s = gumbelStream(spec, stream, cols);
  return (t, out) => {
    for (let l = 0; l < cols; l++) out[l] = s.at(t, l);
  };
}
