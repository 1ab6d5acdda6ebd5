import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDirAtomic, writeFileAtomic } from './atomic.js';

describe('atomic writes', () => {
  it('replaces a file and leaves no temp files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-atomic-'));
    const f = path.join(dir, 'a.json');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(fs.readFileSync(f, 'utf8')).toBe('two');
    expect(fs.readdirSync(dir)).toEqual(['a.json']);
  });
  it('keeps the old directory when filling fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-atomic-'));
    const target = path.join(dir, 'ckpt');
    await writeDirAtomic(target, async (tmp) => fs.writeFileSync(path.join(tmp, 'x'), '1'));
    await expect(
      writeDirAtomic(target, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(fs.readFileSync(path.join(target, 'x'), 'utf8')).toBe('1');
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
  });
});
