import { Rng } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { relaxedSimdAvailable, SimdGemm } from './gemm.js';
import { buildModule, Code, I32, instantiate, sleb, uleb, wasmApi } from './wasm-builder.js';

function naive(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let q = 0; q < k; q++) s += a[i * k + q]! * b[j * k + q]!;
    c[i * n + j] = s;
  }
  return c;
}

/** Multiplies A [m,k] by Bᵀ (B given as [n,k]) through the packed kernel, returning C [m,n]. */
function viaKernel(g: SimdGemm, a: Float32Array, b: Float32Array, m: number, n: number, k: number, chunk: number): Float32Array {
  const mark = g.mark();
  const ap = g.alloc(g.rowBlocksBytes(m, k));
  const bp = g.alloc(g.panelsBytes(n, k));
  const blocks = Math.ceil(m / g.mr);
  const ldc = Math.ceil(n / g.nr) * g.nr;
  const cp = g.alloc(blocks * g.mr * ldc * 4);
  g.packRowBlocks(a, 0, m, k, ap);
  g.packPanels(b, 0, n, k, bp);
  const aBlockBytes = g.mr * g.paddedK(k) * 4;
  for (let b0 = 0; b0 < blocks; b0 += chunk) g.gemm(ap + b0 * aBlockBytes, Math.min(chunk, blocks - b0), bp, ldc / g.nr, k, cp + b0 * g.mr * ldc * 4, ldc);
  const mem = g.f32;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) out.set(mem.subarray((cp >> 2) + i * ldc, (cp >> 2) + i * ldc + n), i * n);
  g.release(mark);
  return out;
}

describe('wasm builder', () => {
  it('encodes LEB128 like the spec examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
  });

  it('builds a module that validates and runs', () => {
    const body = new Code().get(0).get(1).add();
    const bytes = buildModule([{ name: 'add', params: [I32, I32], results: [I32], locals: [], body }], 1);
    expect(wasmApi.validate(bytes)).toBe(true);
    const exports = instantiate(bytes, new wasmApi.Memory({ initial: 1 }));
    expect((exports.add as (a: number, b: number) => number)(40, 2)).toBe(42);
  });
});

describe('SimdGemm', () => {
  const rng = new Rng(3);
  const rand = (len: number) => Float32Array.from({ length: len }, () => rng.uniform() * 2 - 1);

  it('relaxed SIMD is found on this Node (FMA kernel)', () => {
    // Node 20 has it behind a V8 flag that relaxedSimdAvailable sets; Node ≥ 22 has it on.
    expect(relaxedSimdAvailable()).toBe(true);
    expect(SimdGemm.create().fma).toBe(true);
  });

  for (const opts of [{}, { fma: false }, { mr: 4, nrv: 2 }, { mr: 6, nrv: 2 }, { mr: 1, nrv: 1, unroll: 4 }, { unroll: 3 }]) {
    it(`matches a float64 product on ragged shapes (${JSON.stringify(opts)})`, () => {
      const g = SimdGemm.create(opts);
      for (const [m, n, k] of [[1, 1, 1], [5, 9, 3], [17, 23, 31], [64, 40, 129], [33, 8, 514]] as const) {
        const a = rand(m * k);
        const b = rand(n * k);
        const ref = naive(a, b, m, n, k);
        for (const chunk of [1, 2, 1000]) {
          const out = viaKernel(g, a, b, m, n, k, chunk);
          let worst = 0;
          for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(out[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
          expect(worst, `${m}x${n}x${k} chunk ${chunk}`).toBeLessThan(1e-5 * Math.sqrt(k));
        }
      }
    });
  }

  for (const opts of [{}, { fma: false }, { mr: 4, nrv: 2 }, { mr: 1, nrv: 3 }]) {
    it(`gemmRows (A row-major, unpacked) equals the packed kernel bit for bit (${JSON.stringify(opts)})`, () => {
      const g = SimdGemm.create(opts);
      for (const [m, n, k] of [[1, 1, 1], [5, 9, 3], [17, 23, 31], [64, 40, 129], [34, 8, 514]] as const) {
        const a = rand(m * k);
        const b = rand(n * k);
        const want = viaKernel(g, a, b, m, n, k, 1000);
        const mark = g.mark();
        const blocks = Math.ceil(m / g.mr);
        // rows padded to whole blocks with zeros, lda > k to show the stride is honoured
        const lda = k + 3;
        const ap = g.alloc(blocks * g.mr * lda * 4);
        const mem = g.f32;
        mem.fill(0, ap >> 2, (ap >> 2) + blocks * g.mr * lda);
        for (let i = 0; i < m; i++) mem.set(a.subarray(i * k, (i + 1) * k), (ap >> 2) + i * lda);
        const bp = g.alloc(g.panelsBytes(n, k));
        g.packPanels(b, 0, n, k, bp);
        const ldc = Math.ceil(n / g.nr) * g.nr;
        const cp = g.alloc(blocks * g.mr * ldc * 4);
        for (let b0 = 0; b0 < blocks; b0 += 2) g.gemmRows(ap + b0 * g.mr * lda * 4, lda, Math.min(2, blocks - b0), bp, ldc / g.nr, k, cp + b0 * g.mr * ldc * 4, ldc);
        const out = new Float32Array(m * n);
        const f = g.f32;
        for (let i = 0; i < m; i++) out.set(f.subarray((cp >> 2) + i * ldc, (cp >> 2) + i * ldc + n), i * n);
        g.release(mark);
        expect(Array.from(out), `${m}x${n}x${k}`).toEqual(Array.from(want));
      }
    });
  }
  for (const opts of [{}, { mr: 4, nrv: 2 }, { mr: 1, nrv: 3 }, { unroll: 3 }]) {
    it(`packTransposed (along A's rows, in bands) packs Aᵀ exactly as the strided pack does (${JSON.stringify(opts)})`, () => {
      const g = SimdGemm.create(opts);
      // k across several 64-row bands and a partial one; column counts with and without a partial block; lda > rows
      for (const [rows, k, lda, r0] of [[1, 1, 1, 0], [5, 3, 7, 1], [17, 130, 20, 2], [64, 200, 64, 0], [34, 514, 40, 5]] as const) {
        const offset = 3;
        const a = rand(offset + k * lda);
        const bytes = g.rowBlocksBytes(rows, k);
        const want = g.alloc(bytes);
        const got = g.alloc(bytes);
        // Fill both with garbage first, so any float the new path leaves unwritten shows.
        g.f32.fill(7, want >> 2, (want + bytes) >> 2);
        g.f32.fill(7, got >> 2, (got + bytes) >> 2);
        g.packStrided(a, offset + r0, rows, k, 1, lda, want, g.mr);
        g.packTransposed(a, offset + r0, rows, k, lda, got);
        const f = g.f32;
        expect(Array.from(f.subarray(got >> 2, (got + bytes) >> 2)), `${rows}x${k} lda ${lda}`).toEqual(Array.from(f.subarray(want >> 2, (want + bytes) >> 2)));
      }
    });
  }

  it('gemmRows refuses a kernel built with k unrolling', () => {
    const g = SimdGemm.create({ unroll: 2 });
    expect(() => g.gemmRows(64, 4, 1, 64, 1, 4, 64, 12)).toThrow(/unroll 1/);
  });

  it('grows its memory and keeps earlier regions', () => {
    const g = SimdGemm.create();
    const p = g.alloc(64);
    g.f32[p >> 2] = 7;
    const before = g.memory.buffer.byteLength;
    g.alloc(8 << 20);
    expect(g.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(g.f32[p >> 2]).toBe(7);
  });

  it('refuses register tiles that would spill', () => {
    expect(() => SimdGemm.create({ mr: 7, nrv: 2 })).toThrow(/vector registers/);
    expect(() => SimdGemm.create({ unroll: 0 })).toThrow(/unroll/);
    // Offsets must stay valid i32 / `>> 2` indices: a 2 GB request is refused before anything grows.
    const g = SimdGemm.create();
    const before = g.memory.buffer.byteLength;
    expect(() => g.alloc(2 ** 31)).toThrow(/exceed/);
    expect(g.memory.buffer.byteLength).toBe(before);
  });
});
