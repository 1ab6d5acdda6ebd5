import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetFileWriter, fashionMnistTrainAugment, openDataset } from '@hier-ts/data';
import { describe, expect, it } from 'vitest';
import { type TrainConfig, defaultConfig } from './config.js';
import { samplerData } from './data.js';

async function tinyDataset(): Promise<string> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hier-data-')), 'tiny.arrow');
  const w = new DatasetFileWriter(file, { dataset: 'FashionMNIST', imageFormat: 'raw', extraColumns: [], settings: {}, fingerprint: 'test' });
  for (let i = 0; i < 60; i++) {
    const image = new Uint8Array(28 * 28).fill((i * 37) % 256);
    w.add({ image, width: 28, height: 28, channels: 1, label: i % 5, split: i < 50 ? 'train' : 'test', path: `img${i}`, checksum: '', extra: {} });
  }
  await w.finish();
  return file;
}

function cfg(over: Partial<TrainConfig>): TrainConfig {
  return { ...defaultConfig(), IPC: 2, seed: 3, allow_class_repeat: true, ...over };
}

async function epochLabels(c: TrainConfig, file: string, epochs: number[], restore?: unknown) {
  const dataset = await openDataset(file);
  const d = await samplerData({ dataset, rows: dataset.indicesOf('train'), augment: fashionMnistTrainAugment(), cfg: c });
  if (restore !== undefined) d.restore?.(restore);
  const out: number[][] = [];
  let state: unknown;
  for (const e of epochs) {
    for await (const b of d.batches(e, 0, 2)) {
      expect(b.shape).toEqual([c.batch_size * c.devices, 28, 28, 1]);
      out.push(Array.from(b.indices));
      // pairs of the same class, in classes-contiguous order
      for (let i = 0; i < b.labels.length; i += 2) expect(b.labels[i]).toBe(b.labels[i + 1]);
    }
    state = d.state?.();
  }
  await dataset.close();
  return { out, state };
}

describe('samplerData', () => {
  it('yields global batches of whole classes and resumes the sampler stream exactly', async () => {
    const file = await tinyDataset();
    const c = cfg({ batch_size: 10, devices: 2 });
    const full = await epochLabels(c, file, [0, 1]);
    expect(full.out).toHaveLength(4);
    for (const b of full.out) for (const r of b) expect(r).toBeLessThan(50);
    const first = await epochLabels(c, file, [0]);
    const resumed = await epochLabels(c, file, [1], first.state);
    expect(resumed.out).toEqual(full.out.slice(2));
    // A replica slice of 5 cannot hold whole pairs: one sampler then draws the global batch.
    const odd = await epochLabels(cfg({ batch_size: 5, devices: 2 }), file, [0]);
    expect(odd.out[0]).toHaveLength(10);
  });
});
