import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_SUITES, collectFiles, formatCase, runParity } from './index.js';

const GOLDEN = '/work/shared/golden';
const haveGolden = fs.existsSync(GOLDEN);
if (!haveGolden) console.warn(`parity tests skipped: golden folder ${GOLDEN} is absent`);

beforeAll(async () => {
  await initBackend('wasm');
});

describe.skipIf(!haveGolden)('golden vectors', () => {
  it('every top-level golden case (f32 and f64) passes', async () => {
    const files = fs
      .readdirSync(GOLDEN)
      .filter((f) => f.endsWith('.json') && f !== 'index.json')
      .map((f) => path.join(GOLDEN, f));
    expect(files.length).toBeGreaterThan(40);
    const lines: string[] = [];
    const report = await runParity(files, { suites: BUILTIN_SUITES, log: (l) => lines.push(l) });
    const failing = lines.filter((l) => !l.startsWith('PASS'));
    expect(failing, failing.join('\n')).toEqual([]);
    expect(report.unmatched).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.cases).toBe(files.length);
    expect(report.pass).toBe(true);
  });

  it('a corrupted reference fails, and an unknown document is unmatched', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'hier_a.f32.json'), 'utf8'));
      doc.grads.z.data[5] += 0.05;
      fs.writeFileSync(path.join(dir, 'corrupt.json'), JSON.stringify(doc));
      const dm = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'dist_matrix_a.f32.json'), 'utf8'));
      dm.outputs.out.data[0] *= 1.01;
      fs.writeFileSync(path.join(dir, 'corrupt-dm.json'), JSON.stringify(dm));
      fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ function: 'something.else' }));
      fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ files: [] }));
      const lines: string[] = [];
      const report = await runParity([dir], { suites: BUILTIN_SUITES, log: (l) => lines.push(l) });
      expect(report.pass).toBe(false);
      expect(report.failed).toBe(2);
      expect(report.unmatched).toBe(1);
      const hier = report.outcomes.find((o) => o.file.endsWith('corrupt.json'))?.results[0];
      expect(hier?.comparisons.find((c) => c.name === 'grads.z')?.pass).toBe(false);
      expect(hier?.comparisons.find((c) => c.name === 'outputs.loss')?.pass).toBe(true);
      expect(lines.some((l) => l.startsWith('FAIL') && l.includes('grads.z'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveGolden)('mining checks', () => {
  it('a changed positive set fails unless the reference marks that top-k boundary as fragile', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'hier_a.f32.json'), 'utf8'));
      const row = doc.mining[0].valid_anchors[0];
      doc.mining[0].pos_sets[row] = doc.mining[0].pos_sets[row].slice(1);
      doc.mining[0].topk_gap.data[row] = 0.5;
      for (const j of doc.mining[0].pos_sets[row]) doc.mining[0].topk_gap.data[j] = 0.5;
      fs.writeFileSync(path.join(dir, 'strict.json'), JSON.stringify(doc));
      doc.mining[0].topk_gap.data[row] = 1e-7;
      fs.writeFileSync(path.join(dir, 'fragile.json'), JSON.stringify(doc));
      const report = await runParity([dir], { suites: BUILTIN_SUITES });
      const by = (f: string) => report.outcomes.find((o) => o.file.endsWith(f))?.results[0];
      expect(by('strict.json')?.comparisons.find((c) => c.name === 'mining.0.pos_sets')?.pass).toBe(false);
      const fragile = by('fragile.json')?.comparisons.find((c) => c.name === 'mining.0.pos_sets');
      expect(fragile?.pass).toBe(true);
      expect(fragile?.note).toMatch(/fragile/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runner', () => {
  it('collects json recursively and skips index.json / README', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-'));
    try {
      fs.mkdirSync(path.join(dir, 'sub'));
      for (const f of ['a.json', 'index.json', 'README.json', 'notes.md', 'sub/b.json']) fs.writeFileSync(path.join(dir, f), '{}');
      expect(collectFiles([dir]).map((f) => path.relative(dir, f))).toEqual(['a.json', 'sub/b.json']);
      expect(() => collectFiles([path.join(dir, 'missing')])).toThrow(/does not exist/);
      // a folder and its subfolder, one of them spelled relative to the working directory: each file once
      const relativeSub = path.relative(process.cwd(), path.join(dir, 'sub'));
      expect(collectFiles([dir, relativeSub]).map((f) => path.basename(f))).toEqual(['a.json', 'b.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats one line per case', () => {
    const line = formatCase({
      caseId: 'x.f32',
      fn: 'pmath.project',
      pass: false,
      comparisons: [{ name: 'outputs.out', maxAbsErr: 0.5, tolerance: 1e-4, pass: false, note: 'n' }],
    });
    expect(line).toBe('FAIL  x.f32  pmath.project  outputs.out 5.00e-1/1.00e-4 FAIL (n)');
  });
});
