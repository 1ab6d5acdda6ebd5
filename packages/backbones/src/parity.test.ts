import fs from 'node:fs';
import path from 'node:path';
import { initBackend, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelParitySuite } from './index.js';

const DIR = '/work/shared/golden/models';
const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort() : [];
const docs = new Map(files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Record<string, unknown>]));
const cases = files.filter((f) => modelParitySuite.classify(docs.get(f)!, f) === 'case');

describe.skipIf(files.length === 0)('modelParitySuite on golden/models', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('classifies model and reader docs as cases and the input/index as auxiliary', () => {
    const kinds = Object.fromEntries(files.map((f) => [f, modelParitySuite.classify(docs.get(f)!, f)]));
    expect(kinds['input_image.json']).toBe('auxiliary');
    expect(kinds['index.json']).toBe('auxiliary');
    for (const f of files) if (!['input_image.json', 'index.json'].includes(f)) expect(kinds[f]).toBe('case');
  });

  it.each(cases)('%s passes', async (f) => {
    const before = tf.memory().numTensors;
    const results = await modelParitySuite.run(docs.get(f)!, { file: path.join(DIR, f), dir: DIR });
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      const failed = r.comparisons.filter((c) => !c.pass);
      expect(failed, `${r.caseId}: ${JSON.stringify(failed.slice(0, 5))}`).toEqual([]);
      expect(r.pass).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);

  it('fails when the reference or the model is wrong (tampered output, wrong LN eps, bad checksum)', async () => {
    const f = 'vit_tiny_patch16_224.json';
    const doc = structuredClone(docs.get(f)!) as Record<string, unknown> & {
      outputs: { features: { data: number[] } };
      config: { ln_eps: number };
      params: { checksum_u32: number }[];
    };
    doc.outputs.features.data[5] += 1e-3;
    doc.config.ln_eps = 1e-5;
    doc.params[3]!.checksum_u32 = (doc.params[3]!.checksum_u32 + 1) >>> 0;
    const [r] = await modelParitySuite.run(doc, { file: path.join(DIR, f), dir: DIR });
    const failed = new Set(r!.comparisons.filter((c) => !c.pass).map((c) => c.name));
    expect(r!.pass).toBe(false);
    expect(failed).toContain('outputs.features');
    expect(failed).toContain('params.hash_checksums');
    expect(failed).toContain('intermediates.block0.norm1.first');
    await expect(modelParitySuite.run({ function: 'something else' }, { file: 'x.json', dir: DIR })).rejects.toThrowError(/not a backbones parity case/);
  }, 120_000);
});
