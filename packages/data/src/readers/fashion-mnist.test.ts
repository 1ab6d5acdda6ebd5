import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '@hier-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '../arrow/reader.js';
import { fashionMnistTrainAugment } from '../augment.js';
import { encodeIdx } from '../formats/idx.js';
import { ingestDataset } from '../ingest.js';
import { createLoader } from '../loader.js';
import { UniqueClassSampler } from '../sampler.js';
import {
  FASHION_MNIST_COARSE,
  FASHION_MNIST_SYSTEM_DIR,
  fashionMnistZeroShotSplit,
  hasFashionMnistIdx,
  readFashionMnist,
  readFashionMnistNpm,
} from './fashion-mnist.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-fmnist-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes tiny IDX files: image i is filled with the value i, labels cycle 0..9. */
function writeIdxSet(target: string, nTrain: number, nTest: number, gzip: boolean): void {
  fs.mkdirSync(target, { recursive: true });
  const sfx = gzip ? '.gz' : '';
  for (const [prefix, n, base] of [
    ['train', nTrain, 0],
    ['t10k', nTest, 100],
  ] as const) {
    const imgs = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) imgs.fill(base + i, i * 784, (i + 1) * 784);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    fs.writeFileSync(path.join(target, `${prefix}-images-idx3-ubyte${sfx}`), encodeIdx([n, 28, 28], imgs, gzip));
    fs.writeFileSync(path.join(target, `${prefix}-labels-idx1-ubyte${sfx}`), encodeIdx([n], labels, gzip));
  }
}

describe('Fashion-MNIST', () => {
  it('defines the zero-shot split and coarse labels', () => {
    expect([0, 4, 5, 9].map((y) => fashionMnistZeroShotSplit(y, 'train'))).toEqual(['train', 'train', 'unused', 'unused']);
    expect([0, 4, 5, 9].map((y) => fashionMnistZeroShotSplit(y, 'test'))).toEqual(['seen', 'seen', 'unseen', 'unseen']);
    expect(FASHION_MNIST_COARSE).toEqual([0, 1, 0, 2, 0, 3, 0, 3, 4, 3]);
  });

  for (const gzip of [true, false]) {
    it(`reads IDX files (${gzip ? 'gzipped' : 'plain'}) and ingests the zero-shot rows as raw pixels`, async () => {
      const src = path.join(dir, gzip ? 'gz' : 'plain');
      writeIdxSet(src, 20, 10, gzip);
      const data = readFashionMnist(src);
      expect(data.source).toBe('idx');
      expect(data.labels.length).toBe(30);
      expect(data.images[784 * 3]).toBe(3);
      expect(data.images[784 * 21]).toBe(101);
      expect(data.officialSplit.filter((s) => s === 'test').length).toBe(10);
      const out = path.join(dir, `fm-${gzip}.arrow`);
      const res = await ingestDataset({ dataset: 'FashionMNIST', dataPath: src, out, verify: true });
      // 20 train images: labels 0-4 → 10 kept; 10 test images all kept.
      expect(res.rows).toBe(20);
      expect(res.verify).toMatchObject({ rows: 20, checked: 20 });
      const again = await ingestDataset({ dataset: 'FashionMNIST', dataPath: src, out });
      expect(again.upToDate).toBe(true);
      const ds = await openDataset(out);
      expect(ds.info.imageFormat).toBe('raw');
      expect(ds.indicesOf('train').length).toBe(10);
      expect(ds.indicesOf('unseen').length).toBe(5);
      expect(ds.indicesOf('seen').length).toBe(5);
      const r = await ds.row(ds.indicesOf('unseen')[0]!);
      expect(r).toMatchObject({ width: 28, height: 28, channels: 1, label: 5, path: 't10k/00005', extra: { official_split: 'test', coarse_label: 3 } });
      expect(r.image[0]).toBe(105);
    });
  }

  it('rejects missing files, truncated IDX and labels out of range, naming the file', () => {
    const bad = path.join(dir, 'bad');
    writeIdxSet(bad, 4, 2, false);
    fs.rmSync(path.join(bad, 't10k-labels-idx1-ubyte'));
    expect(() => readFashionMnist(bad)).toThrow(expect.objectContaining({ code: 'DATASET_FILE_MISSING', message: expect.stringContaining('t10k-labels-idx1-ubyte') }));
    fs.writeFileSync(path.join(bad, 't10k-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.from([3, 12])));
    expect(() => readFashionMnist(bad)).toThrow(expect.objectContaining({ code: 'LABEL_OUT_OF_RANGE', message: expect.stringContaining('label 12 at item 1') }));
    const full = fs.readFileSync(path.join(bad, 'train-images-idx3-ubyte'));
    fs.writeFileSync(path.join(bad, 'train-images-idx3-ubyte'), full.subarray(0, full.length - 10));
    expect(() => readFashionMnist(bad)).toThrow(expect.objectContaining({ code: 'IDX_TRUNCATED', message: expect.stringContaining('train-images-idx3-ubyte') }));
    expect(() => readFashionMnist(path.join(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'DATASET_DIR_MISSING' }));
  });

  it('feeds the in-process loader with UniqueClassSampler batches and the flip + pad-crop recipe', async () => {
    const src = path.join(dir, 'loader');
    writeIdxSet(src, 60, 10, true);
    const out = path.join(dir, 'loader.arrow');
    await ingestDataset({ dataset: 'FashionMNIST', dataPath: src, out });
    const ds = await openDataset(out);
    const train = ds.indicesOf('train');
    const sampler = new UniqueClassSampler({ labels: Array.from(train, (i) => ds.labels[i]!), batchSize: 10, imagesPerClass: 2, seed: 1 });
    const batches = sampler.epoch(0).map((b) => b.map((j) => train[j]!));
    expect(batches.length).toBe(3);
    const got = [];
    for await (const b of createLoader({ dataset: ds, batches, augment: fashionMnistTrainAugment(), seed: 3 })) got.push(b);
    expect(got.length).toBe(3);
    const b0 = got[0]!;
    expect(b0.shape).toEqual([10, 28, 28, 1]);
    expect(Array.from(b0.labels)).toEqual(Array.from(b0.indices, (i) => ds.labels[i]!));
    // Pairs share a class; every image is a constant image, so inside the 24×24 core the value is (v/255 − μ)/σ.
    const v = ds.imageSync(b0.indices[0]!)[0]!;
    expect(b0.images[14 * 28 + 14]).toBeCloseTo((v / 255 - 0.28604) / 0.35302, 5);
    expect(b0.labels[0]).toBe(b0.labels[1]);
    // Same seed → same pixels.
    const again = [];
    for await (const b of createLoader({ dataset: ds, batches, augment: fashionMnistTrainAugment(), seed: 3 })) again.push(b);
    expect(Array.from(again[2]!.images)).toEqual(Array.from(got[2]!.images));
    expect(new Rng(0)).toBeDefined();
  });

  it('reads the npm copy with its own deterministic 6000-per-class split', () => {
    const d = readFashionMnistNpm();
    expect(d.source).toBe('npm');
    expect(d.labels.length).toBe(70000);
    expect(d.officialSplit.filter((s) => s === 'train').length).toBe(60000);
    // Item 1000 of class 0 is empty and dropped, so the 6000th kept image is file item 6000.
    expect(d.ids[5999]).toBe('npm/0/6000');
    expect(d.officialSplit[5999]).toBe('train');
    expect(d.officialSplit[6000]).toBe('test');
    expect(d.officialSplit[7000]).toBe('train');
    expect(d.labels[7000]).toBe(1);
  });

  it.skipIf(!hasFashionMnistIdx(FASHION_MNIST_SYSTEM_DIR))('reads the real Debian IDX files when installed', () => {
    const d = readFashionMnist(FASHION_MNIST_SYSTEM_DIR);
    expect(d.labels.length).toBe(70000);
    expect(d.officialSplit.filter((s) => s === 'train').length).toBe(60000);
  });
});
