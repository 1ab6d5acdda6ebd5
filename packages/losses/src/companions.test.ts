import { HierError, Rng } from '@hier-ts/core';
import { initBackend, tensorGrowthPerStep, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  METRIC_LOSS_NAMES,
  createHierLoss,
  createMetricLoss,
  hyperbolicMSLoss,
  multiSimilarityLoss,
  pncaLoss,
  proxyAnchorLoss,
  softTripleLoss,
  supConLoss,
} from './index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));

const X = [
  [1, 0, 0],
  [0.8, 0.6, 0],
  [0, 1, 0],
  [0, 0.6, 0.8],
];
const Y = [0, 0, 1, 1];
const P = [
  [1, 0.1, 0],
  [0, 1, 0.2],
  [0.3, 0.3, 0.9],
];

async function scalar(t: tf.Scalar): Promise<number> {
  const v = (await t.data())[0];
  t.dispose();
  return v;
}

describe('Proxy-Anchor (spec §3.1)', () => {
  it('matches the formula: positives over present classes, negatives over all C', async () => {
    const a = 32;
    const d = 0.1;
    let pos = 0;
    let neg = 0;
    for (let c = 0; c < 3; c++) {
      let ps = 0;
      let ns = 0;
      for (let i = 0; i < 4; i++) {
        const s = cos(X[i], P[c]);
        if (Y[i] === c) ps += Math.exp(-a * (s - d));
        else ns += Math.exp(a * (s + d));
      }
      pos += Math.log1p(ps);
      neg += Math.log1p(ns);
    }
    const want = pos / 2 + neg / 3;
    const got = await scalar(proxyAnchorLoss(tf.tensor2d(X), Y, tf.tensor2d(P)));
    expect(got).toBeCloseTo(want, 3);
  });

  it('rejects proxies of the wrong width and out-of-range labels', () => {
    expect(() => proxyAnchorLoss(tf.tensor2d(X), Y, tf.zeros([3, 4]) as tf.Tensor2D)).toThrow(/width 3.*dim 4/);
    expect(() => proxyAnchorLoss(tf.tensor2d(X), [0, 0, 1, 5], tf.tensor2d(P))).toThrow(/labels\[3\] = 5 is out of range for 3 classes/);
  });
});

describe('Multi-Similarity', () => {
  function msRef(S: number[][], alpha: number, beta: number, base: number): number {
    let total = 0;
    for (let i = 0; i < 4; i++) {
      let ps = 0;
      let ns = 0;
      for (let j = 0; j < 4; j++) {
        if (i === j) continue;
        if (Y[i] === Y[j]) ps += Math.exp(-alpha * (S[i][j] - base));
        else ns += Math.exp(beta * (S[i][j] - base));
      }
      total += Math.log1p(ps) / alpha + Math.log1p(ns) / beta;
    }
    return total / 4;
  }

  it('angular: base 0.5, α 2, β 50', async () => {
    const S = X.map((a) => X.map((b) => cos(a, b)));
    expect(await scalar(multiSimilarityLoss(tf.tensor2d(X), Y))).toBeCloseTo(msRef(S, 2, 50, 0.5), 4);
  });

  it('dot variant (c = 0) centres by the off-diagonal mean', async () => {
    const S = X.map((a) => X.map((b) => a.reduce((s, x, i) => s + x * b[i], 0)));
    let mu = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (i !== j) mu += S[i][j] / 12;
    expect(await scalar(hyperbolicMSLoss(tf.tensor2d(X), Y, { c: 0 }))).toBeCloseTo(msRef(S, 1, 5, mu), 4);
  });
});

describe('SupCon (spec §3.3)', () => {
  it('sphere mode: two views, sum of pair losses over IPC²', async () => {
    // classes r = 0, 1; views v = 0, 1: rows of X in [class][view] order
    const v = [
      [X[0], X[1]],
      [X[2], X[3]],
    ];
    const tau = 0.2;
    let total = 0;
    for (const [i, j] of [
      [0, 1],
      [1, 0],
    ]) {
      let pair = 0;
      for (let r = 0; r < 2; r++) {
        const logits: number[] = [];
        for (let s = 0; s < 2; s++) logits.push(v[r][i].reduce((acc, x, k) => acc + x * v[s][j][k], 0) / tau);
        for (let s = 0; s < 2; s++) logits.push(v[r][i].reduce((acc, x, k) => acc + x * v[s][i][k], 0) / tau - (r === s ? 1e9 : 0));
        const m = Math.max(...logits);
        pair += -(logits[r] - m) + Math.log(logits.reduce((acc, l) => acc + Math.exp(l - m), 0));
      }
      total += pair / 2;
    }
    const got = await scalar(supConLoss(tf.tensor2d(X), { c: 0, tau, ipc: 2 }));
    expect(got).toBeCloseTo(total / 4, 4);
    const got3 = await scalar(supConLoss(tf.tensor3d([v[0], v[1]]), { c: 0, tau }));
    expect(got3).toBeCloseTo(got, 6);
  });

  it('rejects a batch that is not a multiple of ipc', () => {
    expect(() => supConLoss(tf.zeros([5, 3]), { ipc: 2 })).toThrow(/multiple of ipc/);
  });
});

describe('PNCA and SoftTriple', () => {
  it('PNCA follows the official per-sample form', async () => {
    let want = 0;
    for (let i = 0; i < 4; i++) {
      want += Math.log1p(Math.exp(-32 * (cos(X[i], P[Y[i]]) - 0.1)));
      let ns = 0;
      for (let c = 0; c < 3; c++) if (c !== Y[i]) ns += Math.exp(32 * (cos(X[i], P[c]) + 0.1));
      want += Math.log1p(ns);
    }
    expect(await scalar(pncaLoss(tf.tensor2d(X), Y, tf.tensor2d(P)))).toBeCloseTo(want / 4, 3);
  });

  it('SoftTriple with one centre per class reduces to a margin softmax on cosines', async () => {
    const centres = tf.transpose(tf.tensor2d(P)) as tf.Tensor2D; // [D, C·1]
    let want = 0;
    for (let i = 0; i < 4; i++) {
      const logits = P.map((p, c) => 20 * (cos(X[i], p) - (c === Y[i] ? 0.01 : 0)));
      const m = Math.max(...logits);
      want += -(logits[Y[i]] - m) + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0));
    }
    expect(await scalar(softTripleLoss(tf.tensor2d(X), Y, centres, 3, { centersPerClass: 1 }))).toBeCloseTo(want / 4, 4);
  });
});

describe('registry and MetricLoss contract', () => {
  it('creates every named loss, trains their variables with the documented lr scales, and leaks nothing', async () => {
    const z = tf.variable(tf.mul(tf.randomNormal([8, 6], 0, 1, 'float32', 7), 0.3), true, 'z-reg');
    const labels = tf.tensor1d([0, 0, 1, 1, 2, 2, 3, 3], 'int32');
    for (const name of METRIC_LOSS_NAMES) {
      const loss = createMetricLoss(name, { numClasses: 5, dim: 6, rng: new Rng(1) });
      const scales = loss.namedVariables().map((v) => v.lrScale);
      if (name === 'PA' || name === 'PNCA' || name === 'SoftTriple') expect(scales).toEqual([1e4]);
      else expect(scales).toEqual([]);
      const step = async () => {
        const { value, grads } = tf.variableGrads(() => loss.compute(z as tf.Tensor2D, labels));
        expect(Number.isFinite((await value.data())[0])).toBe(true);
        tf.dispose([value, ...Object.values(grads)]);
      };
      expect(await tensorGrowthPerStep(step), name).toBe(0);
      loss.dispose();
    }
    const hier = createHierLoss({ numProxies: 16, dim: 6, topk: 4 });
    expect(hier.namedVariables()[0].lrScale).toBe(50);
    hier.dispose();
    expect(() => createMetricLoss('Nope' as never)).toThrow(HierError);
    expect(() => createMetricLoss('PA', {})).toThrow(/numClasses and dim are required/);
    tf.dispose([z, labels]);
  });

  it('proxy initialisation is Kaiming-normal fan_out: N(0, 2/C)', async () => {
    const pa = createMetricLoss('PA', { numClasses: 100, dim: 128, rng: new Rng(2) });
    const v = Array.from(await pa.namedVariables()[0].variable.data());
    const variance = v.reduce((s, x) => s + x * x, 0) / v.length;
    expect(variance).toBeGreaterThan(0.018);
    expect(variance).toBeLessThan(0.022);
    pa.dispose();
  });
});

describe('variables', () => {
  it('two losses of one kind can coexist (unique tfjs names, stable logical names)', () => {
    const a = createMetricLoss('PA', { numClasses: 3, dim: 4 });
    const b = createMetricLoss('PA', { numClasses: 3, dim: 4 });
    expect(a.namedVariables()[0].name).toBe(b.namedVariables()[0].name);
    expect(a.namedVariables()[0].variable.name).not.toBe(b.namedVariables()[0].variable.name);
    a.dispose();
    b.dispose();
  });
});
