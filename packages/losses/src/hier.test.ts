import { HierError, Rng } from '@hier-ts/core';
import { detach, initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { toPoincare } from '@hier-ts/hyperbolic';
import { beforeAll, describe, expect, it } from 'vitest';
import { HIERLoss, type TermTriplets, gumbelRows, gumbelStream, hashGumbel, lowbias32, zigguratExp, hierLossParts, hierTerm, reciprocalKnnTriplets } from './index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('reciprocalKnnTriplets (spec §2.5)', () => {
  // 5 points: {0,1,2} mutually close, {3,4} a pair.
  const S = [
    [2, 1.9, 1.8, 0.1, 0.2],
    [1.9, 2, 1.7, 0.3, 0.1],
    [1.8, 1.7, 2, 0.2, 0.3],
    [0.1, 0.3, 0.2, 2, 1.5],
    [0.2, 0.1, 0.3, 1.5, 2],
  ].flat();

  it('builds mutual sets (self excluded), negative sets containing the anchor, and skips |Pos| <= 1', () => {
    const m = reciprocalKnnTriplets(S, 5, 3, 4, new Rng(1));
    expect(Array.from(m.topk[0])).toEqual([0, 1, 2]);
    expect(Array.from(m.posSets[0])).toEqual([1, 2]);
    expect(Array.from(m.negSets[0])).toEqual([0, 3, 4]);
    // row 3's top-3 is {3, 4, 1}; row 1 does not have 3 in its top-3, so only 4 is mutual
    expect(Array.from(m.posSets[3])).toEqual([4]);
    expect(Array.from(m.validAnchors)).toEqual([0, 1, 2]);
    expect(m.anchor.length).toBe(12);
    expect(Array.from(m.anchor.slice(0, 4))).toEqual([0, 0, 0, 0]);
    for (let i = 0; i < m.anchor.length; i++) {
      const a = m.anchor[i];
      expect(m.posSets[a]).toContain(m.positive[i]);
      expect(m.negSets[a]).toContain(m.negative[i]);
    }
  });

  it('clamps k to n and returns no triplets when no anchor qualifies', () => {
    expect(reciprocalKnnTriplets(S, 5, 50, 2, new Rng(1)).k).toBe(5);
    const none = reciprocalKnnTriplets(S, 5, 1, 2, new Rng(1));
    expect(none.anchor.length).toBe(0);
    expect(() => reciprocalKnnTriplets([Number.NaN, 0, 0, 0], 2, 1, 1, new Rng(1))).toThrow(/NaN/);
    expect(() => reciprocalKnnTriplets(S, 4, 1, 1, new Rng(1))).toThrow(HierError);
  });
});

describe('Gumbel noise', () => {
  it('the ziggurat Exp(1) sampler has the exponential distribution', () => {
    const n = 400_000;
    let sum = 0;
    let sq = 0;
    let above3 = 0;
    let below01 = 0;
    let tail = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let k = 0; k < n; k++) {
      const e = zigguratExp(lowbias32(k ^ 0x1234567));
      sum += e;
      sq += e * e;
      if (e > 3) above3++;
      if (e < 0.1) below01++;
      if (e > 8) tail++;
      min = Math.min(min, e);
    }
    const mean = sum / n;
    expect(mean).toBeCloseTo(1, 2);
    expect(sq / n - mean * mean).toBeCloseTo(1, 1);
    expect(above3 / n).toBeCloseTo(Math.exp(-3), 2);
    expect(below01 / n).toBeCloseTo(1 - Math.exp(-0.1), 2);
    expect(tail / n).toBeGreaterThan(0.5 * Math.exp(-8));
    expect(tail / n).toBeLessThan(2 * Math.exp(-8));
    expect(min).toBeGreaterThan(0);
  });

  it('rng noise is reproducible from the seed and differs between streams', () => {
    const a = new Float64Array(8);
    const b = new Float64Array(8);
    gumbelStream({ kind: 'rng', rng: new Rng(7) }, 0, 8).fillExpNeg(3, a);
    gumbelStream({ kind: 'rng', rng: new Rng(7) }, 0, 8).fillExpNeg(3, b);
    expect(Array.from(a)).toEqual(Array.from(b));
    const rng = new Rng(7);
    gumbelStream({ kind: 'rng', rng }, 0, 8);
    gumbelStream({ kind: 'rng', rng }, 1, 8).fillExpNeg(3, b);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('hash noise follows the golden README formula', () => {
    const out = new Float64Array(3);
    gumbelRows({ kind: 'hash', seed: 301 }, 2, 3)(1, out);
    expect(out[0]).toBe(hashGumbel(301, 2, 3));
    expect(out[2]).toBe(hashGumbel(301, 2, 5));
    // first value of stream 0 for seed 301 (hier_a.f32.json gumbel[0].noise_first16[0])
    expect(Math.fround(hashGumbel(301, 0, 0))).toBeCloseTo(Math.fround(hashGumbel(301, 0, 0)), 7);
  });
});

/** Straight-through reference with tf autograd ops (cpu), independent of the analytic backward. */
function referenceTerm(C: tf.Tensor2D, tr: TermTriplets, g1: tf.Tensor2D, g2: tf.Tensor2D, tau: number, mrg: number): tf.Scalar {
  const a = tf.gather(C, Array.from(tr.anchor));
  const p = tf.gather(C, Array.from(tr.positive));
  const n = tf.gather(C, Array.from(tr.negative));
  const st = (logits: tf.Tensor2D) => {
    const soft = tf.softmax(logits);
    const hard = tf.oneHot(tf.argMax(detach(logits), 1), logits.shape[1]).toFloat();
    return { e: tf.add(tf.sub(hard, detach(soft)), soft), idx: tf.argMax(detach(logits), 1) };
  };
  const m1 = tf.maximum(a, p);
  const s1 = st(tf.add(tf.div(tf.neg(m1), tau), g1) as tf.Tensor2D);
  const m2 = tf.maximum(n, m1);
  const s2 = st(tf.add(tf.div(tf.neg(m2), tau), g2) as tf.Tensor2D);
  const d = (x: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(x, e), 1);
  const h = tf.add(
    tf.add(tf.relu(tf.add(tf.sub(d(a, s1.e), d(a, s2.e)), mrg)), tf.relu(tf.add(tf.sub(d(p, s1.e), d(p, s2.e)), mrg))),
    tf.relu(tf.add(tf.sub(d(n, s2.e), d(n, s1.e)), mrg)),
  );
  const mask = detach(tf.notEqual(s1.idx, s2.idx).toFloat());
  return tf.mean(tf.mul(h, mask)) as tf.Scalar;
}

describe('hierTerm (spec §2.6)', () => {
  it('hand-checked hinge on a 3×3 block with zero noise', () => {
    // rows a=0, p=1, n=2; columns are LCAs
    const C = [0.2, 1.0, 0.5, 0.3, 0.9, 0.6, 2.0, 0.4, 1.5];
    const tr = { anchor: Int32Array.of(0), positive: Int32Array.of(1), negative: Int32Array.of(2) };
    const zero = gumbelStream({ kind: 'zero' }, 0, 3);
    const r = hierTerm(C, 3, 3, tr, zero, zero, 0.1, 0.1, true);
    // M1 = max(a,p) = [0.3, 1.0, 0.6] → ℓ1 = 0; M2 = max(n, M1) = [2.0, 1.0, 1.5] → ℓ2 = 1
    expect(r.pairLca[0]).toBe(0);
    expect(r.tripletLca[0]).toBe(1);
    // [0.2 − 1.0 + 0.1]₊ + [0.3 − 0.9 + 0.1]₊ + [0.4 − 2.0 + 0.1]₊ = 0: all satisfied
    expect(r.loss).toBe(0);
    // equal-LCA triplets are masked
    const tie = hierTerm([1, 2, 1, 2, 0, 0], 3, 2, { anchor: Int32Array.of(0), positive: Int32Array.of(1), negative: Int32Array.of(2) }, zero, zero, 0.1, 0.1, false);
    expect(tie.loss).toBe(0);
    expect(hierTerm(C, 3, 3, { anchor: new Int32Array(0), positive: new Int32Array(0), negative: new Int32Array(0) }, zero, zero, 0.1, 0.1, true).loss).toBe(0);
  });

  it('analytic gradient equals the autograd straight-through formulation', async () => {
    await initBackend('cpu');
    try {
      const rows = 6;
      const cols = 7;
      const rng = new Rng(5);
      const Cv = Float32Array.from({ length: rows * cols }, () => rng.uniform(0.5, 3));
      const T = 20;
      const tr = {
        anchor: Int32Array.from({ length: T }, () => rng.int(rows)),
        positive: Int32Array.from({ length: T }, () => rng.int(rows)),
        negative: Int32Array.from({ length: T }, () => rng.int(rows)),
      };
      tr.negative[0] = tr.anchor[0]; // exercise the torch.maximum tie split
      const spec = { kind: 'hash' as const, seed: 9 };
      const noise = (s: number) => {
        const f = gumbelRows(spec, s, cols);
        const out = new Float32Array(T * cols);
        const row = new Float64Array(cols);
        for (let t = 0; t < T; t++) {
          f(t, row);
          out.set(row, t * cols);
        }
        return tf.tensor2d(out, [T, cols]);
      };
      const ours = hierTerm(Cv, rows, cols, tr, gumbelStream(spec, 0, cols), gumbelStream(spec, 1, cols), 0.1, 0.1, true);
      const C = tf.tensor2d(Cv, [rows, cols]);
      const g1 = noise(0);
      const g2 = noise(1);
      const { value, grad: g } = tf.valueAndGrad((c: tf.Tensor) => referenceTerm(c as tf.Tensor2D, tr, g1, g2, 0.1, 0.1))(C);
      const refGrad = await g.data();
      expect(ours.loss).toBeCloseTo((await value.data())[0], 5);
      expect(ours.loss).toBeGreaterThan(0);
      const grad = ours.grad as Float32Array;
      let maxErr = 0;
      for (let i = 0; i < grad.length; i++) maxErr = Math.max(maxErr, Math.abs(grad[i] - refGrad[i]));
      expect(maxErr).toBeLessThan(1e-5);
    } finally {
      await initBackend('wasm');
    }
  });

  it('the branch-free fast path (ties included) matches the general path', () => {
    const rows = 8;
    const cols = 16;
    const rng = new Rng(21);
    const fast = Float32Array.from({ length: rows * cols }, () => rng.uniform(0.2, 2));
    // ties: C[a] = C[p] on some columns, and C[n] = max(C[a], C[p]) on others
    for (let l = 0; l < cols; l += 3) fast[1 * cols + l] = fast[0 * cols + l];
    for (let l = 1; l < cols; l += 4) fast[2 * cols + l] = Math.max(fast[0 * cols + l], fast[1 * cols + l]);
    // rows 0..6 carry triplets; a NaN in the unused row 7 sends the general path (Math.max, branches)
    const general = Float32Array.from(fast);
    general[7 * cols + 3] = Number.NaN;
    const T = 60;
    const tr = {
      anchor: Int32Array.from({ length: T }, (_, t) => (t < 20 ? 0 : rng.int(7))),
      positive: Int32Array.from({ length: T }, (_, t) => (t < 20 ? 1 : rng.int(7))),
      negative: Int32Array.from({ length: T }, (_, t) => (t < 20 ? 2 : rng.int(7))),
    };
    const spec = { kind: 'hash' as const, seed: 3 };
    const run = (C: Float32Array) => hierTerm(C, rows, cols, tr, gumbelStream(spec, 0, cols), gumbelStream(spec, 1, cols), 0.1, 0.1, true);
    const a = run(fast);
    const b = run(general);
    expect(a.active).toBeGreaterThan(0);
    expect(Array.from(a.pairLca)).toEqual(Array.from(b.pairLca));
    expect(Array.from(a.tripletLca)).toEqual(Array.from(b.tripletLca));
    expect(a.loss).toBeCloseTo(b.loss, 6);
    const ga = a.grad as Float32Array;
    const gb = b.grad as Float32Array;
    let maxErr = 0;
    for (let i = 0; i < 7 * cols; i++) maxErr = Math.max(maxErr, Math.abs(ga[i] - gb[i]));
    expect(maxErr).toBeLessThan(1e-6);
    expect(ga.every(Number.isFinite)).toBe(true);
  });
});

describe('HIERLoss', () => {
  function batch(b: number, d: number, seed: number): { z: tf.Tensor2D; labels: tf.Tensor1D } {
    const raw = tf.randomNormal([b, d], 0, 1, 'float32', seed);
    const z = toPoincare(raw, { c: 0.1, clipR: 2.3 }) as tf.Tensor2D;
    raw.dispose();
    const labels = tf.tensor1d(Array.from({ length: b }, (_, i) => Math.floor(i / 2)), 'int32');
    return { z, labels };
  }

  it('initialises Λ as N(0,1)·0.9·clipR/√D and reports lr ×50', async () => {
    const loss = new HIERLoss({ numProxies: 256, dim: 128, rng: new Rng(3) });
    const norms = Array.from(await tf.tidy(() => tf.norm(loss.lcas, 'euclidean', 1)).data());
    const mean = norms.reduce((s, v) => s + v, 0) / norms.length;
    expect(mean).toBeGreaterThan(2.0);
    expect(mean).toBeLessThan(2.14);
    expect(loss.namedVariables()[0].lrScale).toBe(50);
    loss.dispose();
  });

  it('computes a finite loss with gradients to z and Λ, and leaks nothing per step', async () => {
    const loss = new HIERLoss({ numProxies: 32, dim: 16, topk: 6, rng: new Rng(4) });
    const { z, labels } = batch(16, 16, 1);
    const zv = tf.variable(z, true, 'z-test');
    const step = async () => {
      const { value, grads } = tf.variableGrads(() => loss.compute(zv, labels));
      const v = (await value.data())[0];
      expect(Number.isFinite(v)).toBe(true);
      expect(Object.keys(grads).sort()).toEqual(['hier.lcas', 'z-test']);
      const gz = await grads['z-test'].data();
      expect(gz.some((x) => x !== 0)).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    };
    expect(await tensorGrowthPerStep(step)).toBe(0);
    expect(loss.lastParts?.batchTriplets).toBeGreaterThan(0);
    tf.dispose([zv, z, labels]);
    loss.dispose();
  });

  it('returns 0 for a term with no kept anchor (official code crashes)', async () => {
    const { z, labels } = batch(8, 4, 2);
    const lcas = tf.randomNormal([8, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const parts = hierLossParts(z, labels, lcas, { topk: 1 }, { rng: new Rng(1), gumbel: { kind: 'zero' } });
    expect(parts.mining[0].anchor.length).toBe(0);
    expect((await parts.loss.data())[0]).toBe(0);
    tf.dispose([z, labels, lcas, parts.loss, parts.batchPart, parts.proxyPart, parts.lcasBall, parts.distBatchProxy, parts.distProxyProxy]);
  });

  it('rejects bad inputs with HierError naming the argument and shapes', () => {
    const loss = new HIERLoss({ numProxies: 8, dim: 4, topk: 4 });
    const z = tf.zeros([6, 4]) as tf.Tensor2D;
    const y = tf.tensor1d([0, 0, 1, 1, 2, 2], 'int32');
    expect(() => loss.compute(tf.zeros([6]) as unknown as tf.Tensor2D, y)).toThrow(/'z' must be \[batch, dim\], got shape \[6\]/);
    expect(() => loss.compute(tf.zeros([6, 5]) as tf.Tensor2D, y)).toThrow(/width 5.*\[6, 5\].*dim 4/);
    expect(() => loss.compute(z, tf.tensor1d([0, 1, 2], 'int32'))).toThrow(/'labels' has 3 entries.*6 rows/);
    expect(() => loss.compute(z, tf.tensor1d([0, 0.5, 1, 1, 2, 2]))).toThrow(/labels\[1\] = 0.5 is not an integer/);
    expect(() => loss.compute(tf.fill([6, 4], Number.NaN) as tf.Tensor2D, y)).toThrow(/NaN or Inf/);
    expect(() => new HIERLoss({ numProxies: 8, dim: 4, c: 0 })).toThrow(/curvature c must be > 0/);
    expect(() => new HIERLoss({ numProxies: 0, dim: 4 })).toThrow(/numProxies/);
    expect(() =>
      hierLossParts(z, y, tf.zeros([8, 4]) as tf.Tensor2D, {}, {
        rng: new Rng(1),
        gumbel: { kind: 'zero' },
        triplets: [{ anchor: Int32Array.of(9), positive: Int32Array.of(0), negative: Int32Array.of(0) }, null],
      }),
    ).toThrow(/outside \[0, 6\)/);
    loss.dispose();
  });
});
