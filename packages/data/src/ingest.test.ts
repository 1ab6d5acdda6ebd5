import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCars, makeCub, makeInshop, makeJpeg, makeSop } from './__fixtures__/datasets.js';
import { openDataset } from './arrow/reader.js';
import { evalAugment, trainAugment } from './augment.js';
import { readImageHeader } from './image-header.js';
import { ingestDataset, prepareImage, verifyDatasetFile } from './ingest.js';
import { createLoader } from './loader.js';
import { UniqueClassSampler } from './sampler.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-ingest-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let cubRoot = '';
const cubParent = path.join(dir, 'cub');

beforeAll(async () => {
  cubRoot = await makeCub(cubParent, ['001.A', '002.B', '003.C'], 4);
  // A grey JPEG, a CMYK JPEG and a PNG, which must all come out as 3-channel images.
  fs.writeFileSync(path.join(cubRoot, 'images', '002.B', 'B_grey.jpg'), await makeJpeg(30, 20, 7, 'grey'));
  fs.writeFileSync(path.join(cubRoot, 'images', '002.B', 'B_cmyk.jpg'), await makeJpeg(30, 20, 8, 'cmyk'));
  fs.writeFileSync(path.join(cubRoot, 'images', '003.C', 'C_png.png'), await makeJpeg(30, 20, 9, 'png'));
});

describe('ingestDataset (image datasets)', () => {
  it('writes every image with its columns, converts grey/CMYK to RGB, verifies, and is a no-op when re-run', async () => {
    const out = path.join(dir, 'cub.arrow');
    const progress: number[] = [];
    const res = await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, verify: true, onProgress: (d) => progress.push(d), rowsPerBatch: 4 });
    expect(res.rows).toBe(15);
    expect(res.skipped).toEqual([]);
    expect(res.verify).toEqual({ rows: 15, checked: 15, sourceMissing: 0 });
    expect(progress.at(-1)).toBe(15);
    const ds = await openDataset(out, { mode: 'handle' });
    expect(ds.info.dataset).toBe('CUB');
    expect(Array.from(ds.labels)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    const grey = ds.paths.indexOf('images/002.B/B_grey.jpg');
    const cmyk = ds.paths.indexOf('images/002.B/B_cmyk.jpg');
    for (const i of [grey, cmyk, ds.paths.indexOf('images/003.C/C_png.png'), 0]) {
      const meta = await sharp(await ds.image(i)).metadata();
      expect(meta.channels).toBe(3);
      expect(meta.space).toBe('srgb');
      expect([meta.width, meta.height]).toEqual([ds.widths[i], ds.heights[i]]);
    }
    // RGB JPEGs are stored byte-identical.
    expect(Buffer.compare(Buffer.from(await ds.image(0)), fs.readFileSync(path.join(cubRoot, 'images/001.A/A_0.jpg')))).toBe(0);
    await ds.close();
    const mtime = fs.statSync(out).mtimeMs;
    const again = await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out });
    expect(again.upToDate).toBe(true);
    expect(fs.statSync(out).mtimeMs).toBe(mtime);
    // A damaged file under the final name is rebuilt, not trusted; a changed setting also rebuilds.
    fs.truncateSync(out, 1000);
    expect(await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out })).toMatchObject({ upToDate: false, rows: 15 });
    expect(await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 12 })).toMatchObject({ upToDate: false, rows: 15 });
  });

  it('shrinks the short side to --resize', async () => {
    const out = path.join(dir, 'cub-r.arrow');
    await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 10 });
    const ds = await openDataset(out);
    const i = ds.paths.indexOf('images/002.B/B_grey.jpg');
    expect([ds.widths[i], ds.heights[i]]).toEqual([15, 10]);
    expect(ds.info.settings.resize).toBe(10);
  });

  it('skips corrupt, truncated and missing images with a warning, or fails under --strict', async () => {
    const parent = path.join(dir, 'bad');
    const root = await makeCub(parent, ['001.A', '002.B'], 3);
    const good = fs.readFileSync(path.join(root, 'images/001.A/A_1.jpg'));
    fs.writeFileSync(path.join(root, 'images/001.A/A_1.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    fs.writeFileSync(path.join(root, 'images/002.B/B_0.jpg'), 'not a jpeg at all');
    const warnings: string[] = [];
    const out = path.join(dir, 'bad.arrow');
    const res = await ingestDataset({ dataset: 'CUB', dataPath: parent, out, log: (l) => warnings.push(l) });
    expect(res.rows).toBe(4);
    expect(res.skipped.map((s) => s.path)).toEqual(['images/001.A/A_1.jpg', 'images/002.B/B_0.jpg']);
    expect(warnings.join('\n')).toContain('A_1.jpg');
    expect((await openDataset(out)).info.skipped.length).toBe(2);
    await expect(ingestDataset({ dataset: 'CUB', dataPath: parent, out: path.join(dir, 'strict.arrow'), strict: true, log: () => {} })).rejects.toMatchObject({ code: 'IMAGE_CORRUPT', message: expect.stringContaining('A_1.jpg') });
    expect(fs.existsSync(path.join(dir, 'strict.arrow'))).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);

    const sopParent = path.join(dir, 'sop-missing');
    const sopRoot = await makeSop(sopParent, [[1, 1, 'mug_final/a.JPG'], [1, 1, 'mug_final/b.JPG']], [[2, 8, 'mug_final/c.JPG']]);
    fs.rmSync(path.join(sopRoot, 'mug_final/b.JPG'));
    await expect(ingestDataset({ dataset: 'SOP', dataPath: sopParent, out: path.join(dir, 'sop.arrow'), strict: true })).rejects.toMatchObject({ code: 'IMAGE_MISSING', message: expect.stringContaining('b.JPG') });
    const sop = await ingestDataset({ dataset: 'SOP', dataPath: sopParent, out: path.join(dir, 'sop.arrow'), log: () => {} });
    expect(sop.skipped).toEqual([{ path: 'mug_final/b.JPG', reason: expect.stringContaining('listed but missing') }]);
    expect((await openDataset(path.join(dir, 'sop.arrow'))).extra.super_class_id).toEqual([1, 8]);
  });

  it('prepareImage catches truncated and corrupt 500x375 JPEGs on the keep path and the resize path', async () => {
    const good = await makeJpeg(500, 375, 41);
    const kept = await prepareImage(good, undefined);
    expect(kept.bytes).toBe(good);
    expect([kept.width, kept.height]).toEqual([500, 375]);
    const small = await prepareImage(good, 256);
    expect([small.width, small.height]).toEqual([341, 256]);
    expect((await sharp(small.bytes).metadata()).format).toBe('jpeg');
    const truncated = good.subarray(0, Math.floor(good.length * 0.6));
    const eoiInside = Buffer.concat([truncated, Buffer.from([0xff, 0xd9])]);
    // Bytes that break the entropy-coded stream (here a run of 0xFF, i.e. stray markers). A change that still
    // decodes as valid Huffman codes (e.g. a run of zeros) is invisible to any decoder.
    const garbled = Buffer.from(good);
    garbled.fill(0xff, Math.floor(good.length * 0.4), Math.floor(good.length * 0.4) + 64);
    for (const bad of [truncated, good.subarray(0, good.length - 100), eoiInside, garbled]) {
      // The header (size, components) is intact, so only the full decode can notice.
      expect(readImageHeader(bad)).toEqual({ format: 'jpeg', width: 500, height: 375, rgb8: true });
      await expect(prepareImage(bad, undefined)).rejects.toThrow(/JPEG/);
      await expect(prepareImage(bad, 256)).rejects.toThrow(/JPEG/);
      await expect(prepareImage(bad, 1000)).rejects.toThrow(/JPEG/); // no shrink needed: keep path
    }
  });

  it('prepareImage encode options: optimiseCoding off by default, quality and kernel change the bytes', async () => {
    const src = await makeJpeg(120, 90, 42);
    const plain = await prepareImage(src, 64);
    const optimised = await prepareImage(src, 64, { optimiseCoding: true });
    expect([plain.width, plain.height, optimised.width, optimised.height]).toEqual([85, 64, 85, 64]);
    // Same pixels and quantisation, only the Huffman tables differ: optimised is smaller.
    expect(optimised.bytes.length).toBeLessThan(plain.bytes.length);
    expect(Buffer.from(await sharp(optimised.bytes).raw().toBuffer()).equals(await sharp(plain.bytes).raw().toBuffer())).toBe(true);
    expect(Buffer.compare(Buffer.from((await prepareImage(src, 64, { optimiseCoding: false })).bytes), Buffer.from(plain.bytes))).toBe(0);
    expect((await prepareImage(src, 64, { quality: 60 })).bytes.length).toBeLessThan(plain.bytes.length);
    expect(Buffer.compare(Buffer.from((await prepareImage(src, 64, { kernel: 'linear' })).bytes), Buffer.from(plain.bytes))).not.toBe(0);
  });

  it('records the encode settings, rebuilds when they change and refuses bad ones', async () => {
    const out = path.join(dir, 'cub-enc.arrow');
    await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 10 });
    expect((await openDataset(out)).info.settings).toMatchObject({ resize: 10, quality: 95, optimiseCoding: false, kernel: 'cubic' });
    expect(await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 10 })).toMatchObject({ upToDate: true });
    expect(await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 10, optimiseCoding: true })).toMatchObject({ upToDate: false });
    expect(await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resize: 10, optimiseCoding: true, resizeKernel: 'linear' })).toMatchObject({ upToDate: false });
    expect((await openDataset(out)).info.settings).toMatchObject({ optimiseCoding: true, kernel: 'linear' });
    await expect(ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, resizeKernel: 'box' as never })).rejects.toMatchObject({ code: 'INGEST_CONFIG' });
    await expect(ingestDataset({ dataset: 'CUB', dataPath: cubParent, out, quality: 0 })).rejects.toMatchObject({ code: 'INGEST_CONFIG' });
  });

  it('verify detects a source that changed since ingestion', async () => {
    const parent = path.join(dir, 'changed');
    const root = await makeCub(parent, ['001.A'], 2);
    const out = path.join(dir, 'changed.arrow');
    await ingestDataset({ dataset: 'CUB', dataPath: parent, out });
    fs.writeFileSync(path.join(root, 'images/001.A/A_1.jpg'), await makeJpeg(20, 16, 99));
    await expect(verifyDatasetFile(out)).rejects.toMatchObject({ code: 'VERIFY_FAILED', message: expect.stringContaining('A_1.jpg') });
  });

  it('ingests Cars and In-shop fixtures with their columns', async () => {
    const names = Array.from({ length: 196 }, (_, i) => `Make${i} M ${2000 + (i % 13)}`);
    const carsParent = path.join(dir, 'cars');
    await makeCars(carsParent, [{ path: 'car_ims/000001.jpg', box: [1, 2, 300, 4], cls: 5, test: 1 }, { path: 'car_ims/000002.jpg', box: [5, 6, 7, 8], cls: 120, test: 0 }], names, true);
    const cars = await openDataset((await ingestDataset({ dataset: 'Cars', dataPath: carsParent, out: path.join(dir, 'cars.arrow') })).out);
    expect(Array.from(cars.labels)).toEqual([4, 119]);
    expect(cars.splits).toEqual(['train', 'test']);
    expect(cars.extra.bbox_x2).toEqual([300, 7]);
    expect(cars.extra.class_name).toEqual([names[4], names[119]]);
    const inParent = path.join(dir, 'inshop');
    await makeInshop(inParent, [['img/MEN/Denim/id_00000003/01_1_front.jpg', 'id_00000003', 'train'], ['img/WOMEN/Dresses/id_00000009/01_1_front.jpg', 'id_00000009', 'query']]);
    const inshop = await openDataset((await ingestDataset({ dataset: 'Inshop', dataPath: inParent, out: path.join(dir, 'inshop.arrow') })).out);
    expect(inshop.splits).toEqual(['train', 'query']);
    expect(inshop.extra.gender).toEqual(['MEN', 'WOMEN']);
  });
});

describe('worker-thread loader', () => {
  const cubFile = path.join(dir, 'cub-loader.arrow');
  beforeAll(async () => {
    await ingestDataset({ dataset: 'CUB', dataPath: cubParent, out: cubFile });
  });

  it('yields the same batches as the in-process path, in order, and shuts down cleanly', async () => {
    const ds = await openDataset(cubFile);
    const sampler = new UniqueClassSampler({ labels: ds.labels, batchSize: 4, imagesPerClass: 2, seed: 2 });
    const batches = sampler.epoch(0);
    expect(batches.length).toBe(3);
    const spec = trainAugment('resnet50', 24);
    const viaWorkers = [];
    for await (const b of createLoader({ dataset: ds, batches, augment: spec, seed: 11, workers: 2, prefetch: 2 })) viaWorkers.push(b);
    const inProcess = [];
    for await (const b of createLoader({ dataset: ds, batches, augment: spec, seed: 11 })) inProcess.push(b);
    expect(viaWorkers.map((b) => Array.from(b.indices))).toEqual(batches.map((b) => Array.from(b)));
    expect(viaWorkers[0]!.shape).toEqual([4, 24, 24, 3]);
    for (let i = 0; i < 3; i++) {
      expect(Array.from(viaWorkers[i]!.labels)).toEqual(Array.from(inProcess[i]!.labels));
      expect(Array.from(viaWorkers[i]!.images)).toEqual(Array.from(inProcess[i]!.images));
    }
    // Breaking out early terminates the workers (the test would hang otherwise).
    const loader = createLoader({ dataset: ds, batches, augment: evalAugment('resnet50', 20, 16), workers: 1 });
    for await (const b of loader) {
      expect(b.shape).toEqual([4, 16, 16, 3]);
      break;
    }
    await loader.close();
  });

  it('keeps its workers across epochs and drops replies of an abandoned epoch', async () => {
    const ds = await openDataset(cubFile);
    const batches = new UniqueClassSampler({ labels: ds.labels, batchSize: 4, imagesPerClass: 2, seed: 4 }).epoch(0);
    const loader = createLoader({ dataset: ds, augment: trainAugment('vit_small', 16), workers: 2, prefetch: 3 });
    for await (const b of loader.epoch(batches, { seed: 5 })) {
      expect(Array.from(b.indices)).toEqual(Array.from(batches[0]!));
      break;
    }
    const full = [];
    for await (const b of loader.epoch(batches, { seed: 5 })) full.push(b);
    expect(full.map((b) => Array.from(b.indices))).toEqual(batches.map((b) => Array.from(b)));
    const ref = [];
    for await (const b of createLoader({ dataset: ds, augment: trainAugment('vit_small', 16) }).epoch(batches, { seed: 5 })) ref.push(b);
    expect(Array.from(full[2]!.images)).toEqual(Array.from(ref[2]!.images));
    await loader.close();
    // Workers reading through a file handle give the same pixels.
    const viaHandle = [];
    const handleLoader = createLoader({ dataset: ds, augment: trainAugment('vit_small', 16), workers: 1, open: { mode: 'handle' } });
    for await (const b of handleLoader.epoch(batches, { seed: 5 })) viaHandle.push(b);
    await handleLoader.close();
    expect(Array.from(viaHandle[1]!.images)).toEqual(Array.from(ref[1]!.images));
    await expect(async () => {
      for await (const _ of loader.epoch(batches)) break;
    }).rejects.toMatchObject({ code: 'LOADER_CLOSED' });
  });

  it('reports worker-side errors with the batch id', async () => {
    const ds = await openDataset(cubFile);
    const loader = createLoader({ dataset: ds, batches: [Int32Array.from([0, 1])], augment: { kind: 'fmnist-eval', norm: { mean: [0], std: [1] } }, workers: 1 });
    await expect((async () => { for await (const _ of loader) { /* drain */ } })()).rejects.toMatchObject({ code: 'AUGMENT_SHAPE', message: expect.stringContaining('batch 0') });
    expect(() => createLoader({ dataset: ds, batches: [Int32Array.from([99])], augment: evalAugment('resnet50') })).toThrow(/batch index 99/);
  });
});
