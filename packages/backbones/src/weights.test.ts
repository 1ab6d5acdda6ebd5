import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { initBackend, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, exportTensors, loadTensors, loadWeights, mapCheckpointKey, saveWeights, type TorchTensor } from './index.js';

const D2 = '/work/shared/golden/models/vit_tiny_d2.f32.safetensors';

async function embedValues(m: ReturnType<typeof createModel>, x: tf.Tensor4D): Promise<number[]> {
  const z = m.embed(x, 'eval');
  const v = [...(await z.data())];
  z.dispose();
  return v;
}

describe('weights import/export', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('round-trips our own safetensors checkpoint (F32 exact)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-bb-'));
    const a = createModel('cnn4', { seed: 1 });
    const b = createModel('cnn4', { seed: 2 });
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const file = path.join(dir, 'w.safetensors');
    await saveWeights(a, file);
    expect(await embedValues(b, x)).not.toEqual(await embedValues(a, x));
    const report = loadWeights(b, file);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.loaded).toContain('last_layer.1.weight');
    expect(report.loaded).toContain('body.bn4.running_var');
    expect(await embedValues(b, x)).toEqual(await embedValues(a, x));
    x.dispose();
    a.dispose();
    b.dispose();
    fs.rmSync(dir, { recursive: true });
  });

  it('maps torchvision, timm, HIER and DDP names and drops classifiers', () => {
    const m = createModel('resnet18');
    const p = m.body.params;
    expect(mapCheckpointKey('layer1.0.conv1.weight', p)).toEqual({ kind: 'body', name: 'layer1.0.conv1.weight' });
    expect(mapCheckpointKey('module.body.model.layer1.0.conv1.weight', p)).toEqual({ kind: 'body', name: 'layer1.0.conv1.weight' });
    expect(mapCheckpointKey('module.body.layer_blocks.0.0.conv1.weight', p)).toEqual({ kind: 'ignored' });
    expect(mapCheckpointKey('module.last_layer.1.weight', p)).toEqual({ kind: 'head', name: 'weight' });
    expect(mapCheckpointKey('fc.weight', p)).toEqual({ kind: 'ignored' });
    expect(mapCheckpointKey('bn1.num_batches_tracked', p)).toEqual({ kind: 'ignored' });
    expect(mapCheckpointKey('blocks.0.attn.qkv.weight', p)).toEqual({ kind: 'unexpected' });
    m.dispose();
  });

  it('converts OIHW conv and [out, in] linear layouts', async () => {
    const m = createModel('vit_tiny', { depth: 1, imageSize: 16, embedDim: 6, numHeads: 2, mlpHidden: 4, patchSize: 8 });
    const tensors = await exportTensors(m);
    const w = tensors.get('body.patch_embed.proj.weight')!;
    expect(w.shape).toEqual([6, 3, 8, 8]);
    const hwio = await m.body.params.get('patch_embed.proj.weight').data();
    // torch [o=1, i=2, y=3, x=4] ↔ tf [y=3, x=4, i=2, o=1]
    expect(w.values[((1 * 3 + 2) * 8 + 3) * 8 + 4]).toBe(hwio[((3 * 8 + 4) * 3 + 2) * 6 + 1]);
    const fc1 = tensors.get('body.blocks.0.mlp.fc1.weight')!;
    expect(fc1.shape).toEqual([4, 6]);
    const io = await m.body.params.get('blocks.0.mlp.fc1.weight').data();
    expect(fc1.values[3 * 6 + 5]).toBe(io[5 * 4 + 3]);
    m.dispose();
  });

  it('rejects another architecture naming the first mismatching tensor and both shapes, and loads nothing', async () => {
    const r18 = createModel('resnet18', { seed: 1 });
    const r50 = createModel('resnet50', { seed: 2 });
    const source = await exportTensors(r18);
    const before = await r50.body.params.get('conv1.weight').data();
    expect(() => loadTensors(r50, source, { source: 'r18.safetensors' })).toThrowError(
      /r18\.safetensors does not fit model 'resnet50': tensor 'body\.layer1\.0\.conv1\.weight' has shape \[64, 64, 3, 3\] in the file but \[64, 64, 1, 1\] in the model/,
    );
    // conv1 has the same shape in both and comes first: it must not have been assigned.
    expect([...(await r50.body.params.get('conv1.weight').data())]).toEqual([...before]);
    const vit = createModel('vit_tiny', { depth: 1, imageSize: 16 });
        expect(() => loadTensors(vit, source, { source: 'r18' })).toThrowError(/'last_layer\.1\.weight' has shape \[128, 512\] in the file but \[128, 192\] in the model/);
    const bodyOnly = new Map([...source].filter(([k]) => k.startsWith('body.')));
    expect(() => loadTensors(vit, bodyOnly, { source: 'r18' })).toThrowError(/r18 does not fit model 'vit_tiny': \d+ of its tensors are missing, first 'body\.cls_token'/);
    let caught: unknown;
    try {
      loadTensors(r18, new Map([...source, ['body.extra.weight', { shape: [1], values: new Float32Array(1) }]]));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(HierError);
    expect(String(caught)).toMatch(/extra\.weight/);
    const lenient = loadTensors(r18, new Map([...source, ['body.extra.weight', { shape: [1], values: new Float32Array(1) }]]), { strict: false });
    expect(lenient.unexpected).toEqual(['body.extra.weight']);
    r18.dispose();
    r50.dispose();
    vit.dispose();
  });

  it.skipIf(!fs.existsSync(D2))('loads a real timm safetensors file and resamples pos_embed to another image size', async () => {
    const m = createModel('vit_tiny_patch16_224', { depth: 2, imageSize: 112 });
    const report = loadWeights(m, D2);
    expect(report.missing).toEqual([]);
    expect(report.resized).toEqual(['pos_embed: [1, 197, 192] → [1, 50, 192]']);
    const pos = await m.body.params.get('pos_embed').data();
    const file = (await import('./safetensors.js')).readSafetensors(D2).tensors.get('pos_embed')!.values;
    expect([...pos.subarray(0, 192)]).toEqual([...file.subarray(0, 192)]); // the CLS entry is kept as is
    const x = tf.zeros([1, 112, 112, 3]) as tf.Tensor4D;
    expect((await embedValues(m, x)).every(Number.isFinite)).toBe(true);
    x.dispose();
    m.dispose();
    const wrongDepth = createModel('vit_tiny_patch16_224', { depth: 3 });
    expect(() => loadWeights(wrongDepth, D2)).toThrowError(/missing, first 'body\.blocks\.2\.norm1\.weight'/);
    wrongDepth.dispose();
  });

  it('tensors with inconsistent values are rejected before anything is assigned', () => {
    const m = createModel('cnn4');
    const bad = new Map<string, TorchTensor>([['conv1.weight', { shape: [32, 1, 3, 3], values: new Float32Array(5) }]]);
    expect(() => loadTensors(m, bad, { source: 'x' })).toThrowError(/x: tensor 'conv1\.weight' declares shape \[32, 1, 3, 3\] but holds 5 values/);
    m.dispose();
  });
});
