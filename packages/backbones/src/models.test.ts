import { HierError } from '@hier-ts/core';
import { initBackend, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, listModels, modelInfo, orthogonal, resizeGrid } from './index.js';
import { Rng } from '@hier-ts/core';

const BALL_MAX = Math.tanh(Math.sqrt(0.1) * 2.3) / Math.sqrt(0.1);

function images(n: number, s: number, c: number, seed = 1): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * s * s * c }, () => rng.normal()), [n, s, s, c]);
}

async function rowNorms(z: tf.Tensor2D): Promise<number[]> {
  const n = tf.norm(z, 'euclidean', 1);
  const v = [...(await n.data())];
  n.dispose();
  return v;
}

describe('registry', () => {
  it('lists every model of the issue', () => {
    expect(listModels()).toEqual(
      expect.arrayContaining(['resnet50', 'resnet18', 'vit_small_patch16_224', 'deit_small_distilled_patch16_224', 'dino_vits16', 'vit_tiny_patch16_224', 'vit_tiny', 'cnn4']),
    );
    expect(modelInfo('resnet50')).toMatchObject({ featureDim: 2048, weightNames: 'torchvision', defaultImageSize: 224 });
    expect(modelInfo('vit_tiny')).toMatchObject({ featureDim: 192, patchSize: 8, defaultImageSize: 64 });
  });

  it('rejects an unknown model name and lists the known ones', () => {
    expect(() => createModel('resnet51')).toThrowError(HierError);
    expect(() => modelInfo('vit_huge')).toThrowError(/unknown model 'vit_huge'; known models: resnet50, resnet18, .*cnn4/);
  });

  it('rejects an image size that the patch size does not divide, naming both', () => {
    expect(() => createModel('vit_tiny', { imageSize: 60, patchSize: 8 })).toThrowError(/imageSize 60 is not divisible by patchSize 8/);
    expect(() => createModel('vit_small_patch16_224', { imageSize: 100 })).toThrowError(HierError);
  });
});

describe('models (wasm forward)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('vit_tiny (patch 8 @ 64 px) embeds into the ball and freezes patch_embed', async () => {
    const m = createModel('vit_tiny', { depth: 2 });
    const x = images(2, 64, 3);
    const z = m.embed(x, 'eval');
    expect(z.shape).toEqual([2, 128]);
    for (const n of await rowNorms(z)) expect(n).toBeCloseTo(BALL_MAX, 5);
    const trainable = m.namedVariables().map((v) => v.name);
    expect(trainable.some((n) => n.includes('patch_embed'))).toBe(false);
    expect(trainable).toContain('body.pos_embed');
    expect(m.stateVariables().map((v) => v.name)).toContain('body.patch_embed.proj.weight');
    expect(m.namedVariables().filter((v) => v.group === 'head').map((v) => v.name)).toEqual(['last_layer.1.weight', 'last_layer.1.bias']);
    expect(() => m.embed(images(1, 32, 3), 'eval')).toThrowError(/input NHWC \[1, 32, 32, 3\] does not match the model's \[B, 64, 64, 3\]/);
    tf.dispose([x, z]);
    m.dispose();
  });

  it('DeiT distilled: CLS in train mode, (CLS + DIST)/2 in eval mode; average in both with the newer-timm flag', async () => {
    const opts = { imageSize: 32, depth: 1, embedDim: 64, numHeads: 2 } as const;
    const m = createModel('deit_small_distilled_patch16_224', opts);
    const x = images(2, 32, 3);
    const kept = new Map<string, tf.Tensor>();
    const ft = m.features(x, 'train', (name, t) => {
      if (name === 'cls_final' || name === 'dist_final') kept.set(name, tf.keep(t.clone()));
    });
    const fe = m.features(x, 'eval');
    const cls = await kept.get('cls_final')!.data();
    const dist = await kept.get('dist_final')!.data();
    expect([...(await ft.data())]).toEqual([...cls]);
    const avg = Array.from(cls, (c, i) => (c + dist[i]!) / 2);
    const e = await fe.data();
    for (const [i, v] of avg.entries()) expect(e[i]).toBeCloseTo(v, 6);
    const m2 = createModel('deit_small_distilled_patch16_224', { ...opts, distilledOutput: 'average' });
    const ft2 = m2.features(x, 'train');
    const fe2 = m2.features(x, 'eval');
    expect([...(await ft2.data())]).toEqual([...(await fe2.data())]);
    tf.dispose([x, ft, fe, ft2, fe2, ...kept.values()]);
    m.dispose();
    m2.dispose();
  });

  it('resnet18 with bn_freeze gives the same output in train and eval mode and keeps running stats', async () => {
    const m = createModel('resnet18');
    const x = images(2, 64, 3);
    const before = await m.body.params.get('bn1.running_mean').data();
    const a = m.embed(x, 'train');
    const b = m.embed(x, 'eval');
    expect([...(await a.data())]).toEqual([...(await b.data())]);
    expect([...(await m.body.params.get('bn1.running_mean').data())]).toEqual([...before]);
    expect(m.namedVariables().map((v) => v.name)).toContain('body.bn1.weight');
    expect(m.namedVariables().map((v) => v.name)).not.toContain('body.bn1.running_mean');
    expect(m.stateVariables().map((v) => v.name)).toContain('body.bn1.running_var');
    tf.dispose([x, a, b]);
    m.dispose();
  });

  it('cnn4 has the reference parameter count and BN train mode updates running stats with momentum 0.1', async () => {
    const m = createModel('cnn4', { seed: 3 });
    const count = (vs: { variable: tf.Variable }[]) => vs.reduce((s, v) => s + v.variable.size, 0);
    expect(count(m.namedVariables())).toBe(421_216);
    const x = images(4, 28, 1);
    const conv = tf.conv2d(x, m.body.params.get('conv1.weight') as tf.Tensor4D, 1, 1);
    const { mean, variance } = tf.moments(conv, [0, 1, 2]);
    const n = 4 * 28 * 28;
    const z = m.embed(x, 'train');
    expect(z.shape).toEqual([4, 128]);
    const rm = await m.body.params.get('bn1.running_mean').data();
    const rv = await m.body.params.get('bn1.running_var').data();
    const mu = await mean.data();
    const va = await variance.data();
    for (let i = 0; i < 32; i++) {
      expect(rm[i]).toBeCloseTo(0.1 * mu[i]!, 5);
      expect(rv[i]).toBeCloseTo(0.9 + (0.1 * va[i]! * n) / (n - 1), 5);
    }
    m.setBatchNormStatsUpdate(false);
    m.embed(x, 'train').dispose();
    expect([...(await m.body.params.get('bn1.running_mean').data())]).toEqual([...rm]);
    m.setBatchNormStatsUpdate(true);
    const e1 = m.embed(x, 'eval');
    const e2 = m.embed(x, 'eval');
    expect([...(await e1.data())]).toEqual([...(await e2.data())]);
    tf.dispose([x, conv, mean, variance, z, e1, e2]);
    m.dispose();
  });

  it('hypC = 0 gives L2-normalised embeddings; the head weight is orthogonal', async () => {
    const m = createModel('cnn4', { hypC: 0 });
    const x = images(3, 28, 1);
    const z = m.embed(x, 'eval');
    for (const n of await rowNorms(z)) expect(n).toBeCloseTo(1, 5);
    tf.dispose([x, z]);
    m.dispose();
    for (const [r, c] of [
      [4, 9],
      [9, 4],
    ] as const) {
      const w = orthogonal(r, c, new Rng(5));
      const t = tf.tensor2d(w, [r, c]);
      const g = r <= c ? tf.matMul(t, t, false, true) : tf.matMul(t, t, true, false);
      const eye = tf.eye(Math.min(r, c));
      expect(tf.max(tf.abs(tf.sub(g, eye))).dataSync()[0]).toBeLessThan(1e-6);
      tf.dispose([t, g, eye]);
    }
  });

  it('does not leak tensors per forward', async () => {
    const { tensorGrowthPerStep } = await import('@hier-ts/engine');
    const m = createModel('vit_tiny', { depth: 1, imageSize: 32 });
    const x = images(2, 32, 3);
    expect(await tensorGrowthPerStep(() => m.embed(x, 'train').dispose())).toBe(0);
    x.dispose();
    m.dispose();
  });
});

describe('bicubic pos_embed resampling', () => {
  it('is the identity at the same size and reproduces PyTorch bicubic (A = −0.75) values', () => {
    const src = Float32Array.from({ length: 3 * 3 * 2 }, (_, i) => Math.sin(i));
    expect([...resizeGrid(src, [3, 3], [3, 3], 2)]).toEqual([...src]);
    // 1×2 → 1×4 of [0, 1]: taps at −0.25 (clamped to the border) → Keys weights by hand.
    const up = resizeGrid(Float32Array.from([0, 1]), [1, 2], [1, 4], 1);
    expect(up[0]).toBeCloseTo(-0.10546875, 7);
    expect(up[1]).toBeCloseTo(0.2265625, 7);
    expect(up[2]).toBeCloseTo(0.7734375, 7);
    expect(up[3]).toBeCloseTo(1.10546875, 7);
  });

  it('keeps a constant grid constant (weights sum to 1, borders clamped) at up- and down-sampling', () => {
    const src = new Float32Array(14 * 14 * 3).fill(0.25);
    for (const g of [7, 9, 20]) for (const v of resizeGrid(src, [14, 14], [g, g], 3)) expect(v).toBeCloseTo(0.25, 6);
    for (const v of resizeGrid(src, [14, 14], [8, 8], 3, [8.1 / 14, 8.1 / 14])) expect(v).toBeCloseTo(0.25, 6);
  });
});
