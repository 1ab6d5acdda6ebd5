import { Rng } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { KeySorter, packKey, RowTopK, rankedFromNegated, selectSmallest, unpackIndex, unpackScore } from './topk.js';

describe('streaming top-k', () => {
  it('packs (score, index) into keys that sort in result order and unpack exactly', () => {
    const vals = [3.5, -2, 0, -0, 1e-30, -1e30, Number.NEGATIVE_INFINITY, 7.25];
    for (const v of vals) {
      const k = packKey(v, 12345);
      expect(unpackIndex(k)).toBe(12345);
      expect(unpackScore(k)).toBe(Math.fround(v));
    }
    expect(packKey(2, 9)).toBeLessThan(packKey(1, 0));
    expect(packKey(1, 3)).toBeLessThan(packKey(1, 4));
  });

  it('rankedFromNegated returns the exact rank-th largest (sampled path, fallback, offsets)', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const cases: Float64Array[] = [];
    for (const n of [40, 512, 2048, 2049]) {
      cases.push(Float64Array.from({ length: n }, () => Math.fround(rnd() - 0.5)));
      cases.push(Float64Array.from({ length: n }, (_, i) => i % 7)); // heavy ties
      cases.push(Float64Array.from({ length: n }, (_, i) => (i % 8 === 0 ? 100 : -i))); // the stride-8 sample misleads
    }
    for (const values of cases) {
      const n = values.length;
      const sorted = Array.from(values).sort((a, b) => a - b);
      for (const rank of [1, 2, 58, 143, n - 1, n]) {
        if (rank > n) continue;
        const pad = 5;
        const negated = new Float64Array(n + pad);
        negated.set(values, pad);
        expect(rankedFromNegated(negated, n, rank, pad, new Float64Array(n))).toBe(-sorted[rank - 1]!);
      }
    }
    expect(() => rankedFromNegated(new Float64Array(4), 4, 5)).toThrow(RangeError);
  });

  it('selectSmallest partitions around the target', () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + rng.int(60);
      const a = Float64Array.from({ length: n }, () => rng.int(10));
      const t = rng.int(n);
      const sorted = Array.from(a).sort((x, y) => x - y);
      selectSmallest(a, 0, n - 1, t);
      expect(a[t]).toBe(sorted[t]);
      for (let i = 0; i < t; i++) expect(a[i]!).toBeLessThanOrEqual(a[t]!);
      for (let i = t + 1; i < n; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[t]!);
    }
  });

  it('equals a full sort with many ties, whatever the block order', () => {
    const rng = new Rng(2);
    const n = 500;
    const k = 37;
    const s = Float32Array.from({ length: n }, () => rng.int(20));
    const acc = new RowTopK(1, k);
    const order = rng.shuffle([0, 1, 2, 3, 4]) as number[];
    for (const b of order) acc.push(0, s, b * 100, 100, b * 100, 42);
    const idx = new Int32Array(k);
    const sc = new Float32Array(k);
    expect(acc.finish(0, idx, sc, 0)).toBe(k);
    const ref = [...Array(n).keys()].filter((j) => j !== 42).sort((a, b) => s[b]! - s[a]! || a - b).slice(0, k);
    expect(Array.from(idx)).toEqual(ref);
    expect(Array.from(sc)).toEqual(ref.map((j) => s[j]!));
  });

  it('a guessed threshold is exact when it holds and reports when it does not', () => {
    const k = 10;
    const cap = 2 * k + 32;
    const mk = () => {
      const state = { cap, keys: new Float64Array(cap), count: new Int32Array(1), thr: new Float32Array(1).fill(-Infinity), guess: new Float32Array(1).fill(Number.NaN) };
      return new RowTopK(1, k, state);
    };
    const s = Float32Array.from({ length: 200 }, (_, j) => (j * 37) % 200); // a permutation of 0..199
    const ref = [...Array(200).keys()].sort((a, b) => s[b]! - s[a]!).slice(0, k);
    // Safe guess: the 3rd best of the first 40 scores (185) stays below the final 10th best (190).
    const ok = mk();
    ok.push(0, s, 0, 40, 0, -1);
    const firstNegated = Float64Array.from(s.subarray(0, 40), (v) => -v);
    ok.setGuess(0, rankedFromNegated(firstNegated, 40, 3));
    expect(ok.guessThr![0]).toBe(185);
    expect(ok.thr[0]).toBeGreaterThan(-Infinity);
    ok.push(0, s, 40, 160, 40, -1);
    expect(ok.guessHeld(0)).toBe(true);
    const idx = new Int32Array(k);
    ok.finish(0, idx, new Float32Array(k), 0);
    expect(Array.from(idx)).toEqual(ref);
    // Too-high guess: the best of the first 40 (199) is above 190, so fewer than k kept scores reach it.
    const bad = mk();
    bad.push(0, s, 0, 40, 0, -1);
    bad.setGuess(0, rankedFromNegated(Float64Array.from(s.subarray(0, 40), (v) => -v), 40, 1));
    expect(bad.guessThr![0]).toBe(199);
    bad.push(0, s, 40, 160, 40, -1);
    expect(bad.guessHeld(0)).toBe(false);
    bad.reset(0);
    bad.push(0, s, 0, 200, 0, -1);
    expect(bad.guessHeld(0)).toBe(true);
    bad.finish(0, idx, new Float32Array(k), 0);
    expect(Array.from(idx)).toEqual(ref);
  });
});

describe('KeySorter', () => {
  it('sorts runs of packed keys like a native sort (ties, equal high bytes, short and long runs)', () => {
    const rng = new Rng(8);
    const keys = new Float64Array(5000);
    const sorter = new KeySorter(keys, 100);
    for (const [n, spread] of [[0, 1], [1, 1], [31, 1e6], [32, 3], [1000, 2 ** 20], [1000, 40], [4000, 2 ** 31]] as const) {
      const base = 7;
      for (let i = 0; i < n; i++) {
        // Scores from a narrow band (as in one row's top-k) and indices up to 2²¹, some keys repeated.
        const score = Math.fround(0.5 + (rng.uniform() * spread) / 2 ** 31);
        keys[base + i] = i % 9 === 0 && i > 0 ? keys[base + i - 1]! : packKey(score, Math.floor(rng.uniform() * 2 ** 21));
      }
      const ref = Array.from(keys.subarray(base, base + n)).sort((a, b) => a - b);
      const before = keys[base - 1];
      sorter.sort(base, n);
      expect(Array.from(keys.subarray(base, base + n)), `n=${n}`).toEqual(ref);
      expect(keys[base - 1]).toBe(before);
    }
  });
});
