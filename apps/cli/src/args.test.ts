import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { type FlagSpec, FlagTable, formatHelp, parseArgs } from './args.js';

const SPECS: FlagSpec[] = [
  { name: 'lr', type: 'number', default: 1e-5, help: 'base lr' },
  { name: 'batch_size', type: 'int', default: 90, help: 'batch' },
  { name: 'IPC', type: 'int', default: 2, help: 'images per class' },
  { name: 'bn_freeze', type: 'boolean', default: true, help: 'freeze BN' },
  { name: 'dataset', type: 'string', default: 'CUB', choices: ['CUB', 'Cars', 'SOP'], help: 'dataset' },
  { name: 'devices', type: 'int', default: 1, aliases: ['nproc_per_node'], help: 'replicas' },
  { name: 'resume', type: 'string', nullable: true, help: 'checkpoint' },
];
const table = new FlagTable(SPECS);

function err(fn: () => unknown): HierError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HierError) return e;
    throw e;
  }
  throw new Error('expected a HierError');
}

describe('parseArgs', () => {
  it('gives defaults and parses snake, kebab, = and alias spellings', () => {
    const a = parseArgs(table, ['--lr', '1e-4', '--batch-size=45', '--ipc', '3', '--nproc-per-node', '2', '--dataset', 'cars'], 'train');
    expect(a.values).toMatchObject({ lr: 1e-4, batch_size: 45, IPC: 3, devices: 2, dataset: 'Cars', bn_freeze: true });
    expect([...a.explicit].sort()).toEqual(['IPC', 'batch_size', 'dataset', 'devices', 'lr']);
  });

  it('parses booleans as users mean them', () => {
    expect(parseArgs(table, ['--bn_freeze', 'False'], 'train').values.bn_freeze).toBe(false);
    expect(parseArgs(table, ['--bn-freeze=0'], 'train').values.bn_freeze).toBe(false);
    expect(parseArgs(table, ['--no-bn-freeze'], 'train').values.bn_freeze).toBe(false);
    expect(parseArgs(table, ['--bn_freeze', '--lr', '1'], 'train').values).toMatchObject({ bn_freeze: true, lr: 1 });
    expect(err(() => parseArgs(table, ['--bn_freeze=maybe'], 'train')).message).toMatch(/--bn_freeze expects true or false/);
  });

  it('accepts negative numbers as values and none for nullable flags', () => {
    expect(parseArgs(table, ['--lr', '-0.5'], 'train').values.lr).toBe(-0.5);
    expect(parseArgs(table, ['--resume', 'None'], 'train').values.resume).toBeNull();
  });

  it('refuses unknown flags with a suggestion and the command name', () => {
    const e = err(() => parseArgs(table, ['--batchsize', '3'], 'train'));
    expect(e.code).toBe('E_FLAG_UNKNOWN');
    expect(e.message).toBe("unknown flag --batchsize for 'hier train'; did you mean --batch_size? (see hier train --help)");
  });

  it('refuses malformed values, missing values and stray arguments', () => {
    expect(err(() => parseArgs(table, ['--batch_size', '4.5'], 'train')).message).toMatch(/--batch_size expects an integer, got '4.5'/);
    expect(err(() => parseArgs(table, ['--lr', '0x10'], 'train')).message).toMatch(/--lr expects a number/);
    expect(err(() => parseArgs(table, ['--lr'], 'train')).message).toMatch(/--lr needs a value/);
    expect(err(() => parseArgs(table, ['--lr', '--ipc', '2'], 'train')).message).toMatch(/--lr needs a value/);
    expect(err(() => parseArgs(table, ['--dataset', 'MNIST'], 'train')).message).toMatch(/must be one of CUB, Cars, SOP; got 'MNIST'/);
    expect(err(() => parseArgs(table, ['stray'], 'train')).message).toMatch(/unexpected argument 'stray'/);
  });

  it('refuses the same flag given twice with different values (also through an alias)', () => {
    const e = err(() => parseArgs(table, ['--devices', '2', '--nproc_per_node', '4'], 'train'));
    expect(e.code).toBe('E_FLAG_CONFLICT');
    expect(e.message).toMatch(/--devices given twice/);
    expect(parseArgs(table, ['--devices', '2', '--nproc_per_node', '2'], 'train').values.devices).toBe(2);
  });

  it('reads JSON and YAML config files, argv overriding them, unknown keys refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-args-'));
    const json = path.join(dir, 'c.json');
    fs.writeFileSync(json, JSON.stringify({ lr: 0.001, 'batch-size': 30, bn_freeze: 'False' }));
    const a = parseArgs(table, ['--config', json, '--batch_size', '60'], 'train');
    expect(a.values).toMatchObject({ lr: 0.001, batch_size: 60, bn_freeze: false });
    expect(a.source).toMatchObject({ lr: json, batch_size: 'argv' });

    const yaml = path.join(dir, 'c.yaml');
    fs.writeFileSync(yaml, 'IPC: 3\ndataset: sop\n');
    expect(parseArgs(table, [`--config=${yaml}`], 'train').values).toMatchObject({ IPC: 3, dataset: 'SOP' });

    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'learning_rate: 3\n');
    expect(err(() => parseArgs(table, ['--config', bad], 'train')).message).toMatch(/config file .*bad.yaml: unknown key 'learning_rate'/);
    fs.writeFileSync(bad, 'batch_size: [1, 2]\n');
    expect(err(() => parseArgs(table, ['--config', bad], 'train')).message).toMatch(/--batch_size expects a number.*bad.yaml, key 'batch_size'/);
    expect(err(() => parseArgs(table, ['--config', path.join(dir, 'missing.json')], 'train')).message).toMatch(/cannot be read/);
    const txt = path.join(dir, 'c.txt');
    fs.writeFileSync(txt, 'x');
    expect(err(() => parseArgs(table, ['--config', txt], 'train')).message).toMatch(/must end in .json, .yaml or .yml/);
    fs.writeFileSync(json, '{"lr": ');
    expect(err(() => parseArgs(table, ['--config', json], 'train')).message).toMatch(/is not valid JSON/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a flag table with two flags claiming one spelling', () => {
    expect(() => new FlagTable([SPECS[0]!, { name: 'LR', type: 'number', help: 'x' }])).toThrow(/claimed by both/);
  });

  it('enforces required flags unless --help is asked', () => {
    const t = new FlagTable([{ name: 'out', type: 'path', required: true, help: 'Output file. More text' }]);
    expect(err(() => parseArgs(t, [], 'ingest')).message).toBe("'hier ingest' needs --out (Output file)");
    expect(parseArgs(t, ['--help'], 'ingest').help).toBe(true);
  });
});

describe('formatHelp', () => {
  it('lists every flag with its spellings, default and deviation', () => {
    const t = new FlagTable([...SPECS, { name: 'x_y', type: 'boolean', default: false, help: 'thing', deviation: 'official differs' }]);
    const text = formatHelp('train', 'train a model', t, ['example: hier train']);
    expect(text).toMatch(/--batch_size, --batch-size <int>\n\s+batch \(default: 90\)/);
    expect(text).toMatch(/--devices, --nproc_per_node <int>/);
    expect(text).toMatch(/--x_y, --x-y \[BOOL\]\n\s+thing \(default: false\)\n\s+note: official differs/);
    expect(text).toMatch(/--dataset \{CUB\|Cars\|SOP\}/);
    expect(text).toMatch(/example: hier train/);
  });
});

describe('hier ingest flags', () => {
  it('offers exactly the resize kernels @hier-ts/data accepts', async () => {
    const { RESIZE_KERNELS } = await import('@hier-ts/data');
    const { ingestCommand } = await import('./commands/ingest.js');
    const table = await ingestCommand.flags();
    const spec = table.specs.find((f) => f.name === 'resize_kernel');
    expect([...(spec?.choices ?? [])]).toEqual([...RESIZE_KERNELS]);
  });
});
