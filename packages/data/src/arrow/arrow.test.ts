import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tableToIPC, tableFromArrays } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from './reader.js';
import { META } from './schema.js';
import { DatasetFileWriter } from './writer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-arrow-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function writeSample(file: string, n: number, rowsPerBatch = 4) {
  const w = new DatasetFileWriter(file, {
    dataset: 'Test',
    imageFormat: 'raw',
    extraColumns: [
      { name: 'coarse', type: 'int32' },
      { name: 'name', type: 'utf8' },
    ],
    settings: { a: 1 },
    fingerprint: 'fp',
    classNames: ['x', 'y'],
    rowsPerBatch,
  });
  for (let i = 0; i < n; i++)
    w.add({
      image: Uint8Array.from({ length: 6 }, (_, k) => (i * 7 + k) & 255),
      width: 3, height: 2, channels: 1, label: i % 3, split: i % 2 ? 'test' : 'train', path: `p/${i}.png`, checksum: `c${i}`,
      extra: { coarse: i * 10, name: `n${i}` },
    });
  return w.finish({ [META.skipped]: JSON.stringify([{ path: 'bad.jpg', reason: 'corrupt' }]) });
}

describe('Arrow dataset files', () => {
  it('round-trips rows in memory and through a file handle', async () => {
    const file = path.join(dir, 'a.arrow');
    expect(await writeSample(file, 11)).toBe(11);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    for (const mode of ['memory', 'handle'] as const) {
      const ds = await openDataset(file, { mode });
      expect(ds.length).toBe(11);
      expect(ds.info.dataset).toBe('Test');
      expect(ds.info.rows).toBe(11);
      expect(ds.info.skipped).toEqual([{ path: 'bad.jpg', reason: 'corrupt' }]);
      expect(ds.info.classNames).toEqual(['x', 'y']);
      expect(Array.from(ds.labels)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]);
      expect(Array.from(ds.indicesOf('test'))).toEqual([1, 3, 5, 7, 9]);
      const rows = await Promise.all([9, 2, 5, 10].map((i) => ds.row(i)));
      for (const r of rows) {
        expect(Array.from(r.image)).toEqual(Array.from({ length: 6 }, (_, k) => (r.index * 7 + k) & 255));
        expect(r.extra).toEqual({ coarse: r.index * 10, name: `n${r.index}` });
        expect(r.path).toBe(`p/${r.index}.png`);
      }
      await ds.close();
    }
  });

  it('rejects Arrow files from other tools, newer schema versions and non-Arrow files', async () => {
    const foreign = path.join(dir, 'foreign.arrow');
    fs.writeFileSync(foreign, tableToIPC(tableFromArrays({ x: Int32Array.from([1, 2]) }), 'file'));
    await expect(openDataset(foreign)).rejects.toMatchObject({ code: 'ARROW_FOREIGN_FILE' });
    const junk = path.join(dir, 'junk.arrow');
    fs.writeFileSync(junk, 'hello world, not arrow');
    await expect(openDataset(junk)).rejects.toMatchObject({ code: 'ARROW_NOT_ARROW' });
    await expect(openDataset(path.join(dir, 'none.arrow'))).rejects.toMatchObject({ code: 'DATASET_FILE_MISSING' });
    const newer = path.join(dir, 'newer.arrow');
    const w = new DatasetFileWriter(newer, { dataset: 'T', imageFormat: 'raw', extraColumns: [], settings: {}, fingerprint: '' });
    await w.finish({ [META.schemaVersion]: '99' });
    await expect(openDataset(newer, { mode: 'handle' })).rejects.toMatchObject({ code: 'ARROW_SCHEMA_NEWER' });
  });
});
