import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { exportEmbeddingsArrow, readEmbeddingsArrow } from './export.js';
import { matrix } from './matrix.js';

describe('Arrow export', () => {
  it('round-trips splits, labels, coarse labels and metadata', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-eval-'));
    const file = path.join(dir, 'emb.arrow');
    const q = Float32Array.from({ length: 12 }, (_, i) => i * 0.5);
    const g = Float32Array.from({ length: 6 }, (_, i) => -i);
    const res = await exportEmbeddingsArrow(
      file,
      [
        { split: 'query', embeddings: matrix(q, 3), labels: Int32Array.from([1, 2, 3, 4]), coarseLabels: Int32Array.from([0, 0, 1, 1]) },
        { split: 'gallery', embeddings: matrix(g, 3), labels: Int32Array.from([7, 8]), indices: Int32Array.from([5, 9]) },
      ],
      { similarity: 'poincare', c: '0.1' },
    );
    expect(res.rows).toBe(6);
    const t = tableFromIPC(fs.readFileSync(file));
    expect(t.schema.fields.map((f) => f.name)).toEqual(['index', 'label', 'split', 'vector', 'coarse_label']);
    expect(String(t.schema.fields[3]!.type)).toBe('FixedSizeList[3]<Float32>');
    expect(t.getChild('coarse_label')!.get(5)).toBeNull();
    expect(Array.from(t.getChild('vector')!.get(1)!.toArray() as Float32Array)).toEqual([1.5, 2, 2.5]);
    expect(fs.readFileSync(file).subarray(0, 6).toString()).toBe('ARROW1');
    const back = await readEmbeddingsArrow(file);
    expect(back.metadata.similarity).toBe('poincare');
    expect(back.splits.map((s) => s.split)).toEqual(['query', 'gallery']);
    expect(Array.from(back.splits[0]!.embeddings.data)).toEqual(Array.from(q));
    expect(Array.from(back.splits[0]!.coarseLabels!)).toEqual([0, 0, 1, 1]);
    expect(back.splits[1]!.coarseLabels).toBeUndefined();
    expect(Array.from(back.splits[1]!.indices!)).toEqual([5, 9]);
    expect(Array.from(back.splits[1]!.embeddings.data)).toEqual(Array.from(g));
    expect(fs.readdirSync(dir)).toEqual(['emb.arrow']);
  });

  it('rejects mismatched inputs', async () => {
    await expect(exportEmbeddingsArrow('/tmp/x.arrow', [])).rejects.toThrow(/no splits/);
    await expect(
      exportEmbeddingsArrow('/tmp/x.arrow', [{ split: 'test', embeddings: matrix(new Float32Array(6), 3), labels: Int32Array.from([1]) }]),
    ).rejects.toThrow(/labels has 1 entries but its embeddings has 2 rows/);
  });
});
