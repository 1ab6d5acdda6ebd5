import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetFileWriter, openDataset, thumbnailPng } from '@hier-ts/data';
import { describe, expect, it } from 'vitest';
import { loadThumbnails } from './thumbnails.js';

describe('loadThumbnails', () => {
  it('maps split positions to dataset rows (the test split follows the train rows)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hier-thumbs-')), 'd.arrow');
    const w = new DatasetFileWriter(file, { dataset: 'FashionMNIST', imageFormat: 'raw', extraColumns: [], settings: {}, fingerprint: 'test' });
    // every image is one flat grey level that encodes its row; test rows are 30..39
    for (let i = 0; i < 40; i++) {
      w.add({ image: new Uint8Array(28 * 28).fill(i * 6), width: 28, height: 28, channels: 1, label: i % 5, split: i < 30 ? 'train' : 'test', path: `img${i}`, checksum: '', extra: {} });
    }
    await w.finish();
    const ds = await openDataset(file);
    try {
      // samples in reverse split order: sample r is at position 9 − r of the test split, i.e. dataset row 39 − r
      const positions = Int32Array.from({ length: 10 }, (_, r) => 9 - r);
      const thumbs = await loadThumbnails(ds, 'test', positions, 2, 8);
      expect(thumbs.size).toBe(10); // 2 × 8 candidates wanted, all 10 samples available
      for (const [r, href] of thumbs) {
        const rec = await ds.row(39 - r);
        const want = await thumbnailPng({ bytes: rec.image, width: 28, height: 28, channels: 1, format: 'raw' }, 8);
        expect(href, `sample ${r}`).toBe(`data:image/png;base64,${Buffer.from(want).toString('base64')}`);
      }
      // and the grey levels differ, so a wrong row would show
      expect(new Set(thumbs.values()).size).toBe(10);
      await expect(loadThumbnails(ds, 'test', Int32Array.from([12]), 1, 8)).rejects.toThrow(/position 12 of split 'test'/);
    } finally {
      await ds.close();
    }
  });
});
