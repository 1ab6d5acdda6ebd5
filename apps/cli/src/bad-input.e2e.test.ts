/**
 * Bad command lines through the real binary: each must exit non-zero with exactly one line on stderr that
 * names the problem, no stack trace (unless HIER_DEBUG=1), and nothing started (no output folder written).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from './__fixtures__/cli-runner.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-bad-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expectOneLineError(r: CliRun, pattern: RegExp): void {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('hier: bad input', () => {
  it('unknown flag: exit 2, names the flag and suggests the close one', async () => {
    const r = await runCli(['train', '--batchsize', '45', '--output_dir', path.join(tmp, 'a')]);
    expectOneLineError(r, /^hier train: error: unknown flag --batchsize for 'hier train'; did you mean --batch_size\?/);
    expect(r.code).toBe(2);
    expect(fs.existsSync(path.join(tmp, 'a'))).toBe(false);
  });

  it('ingest: out-of-range --quality and an unknown --resize_kernel are refused before anything is read', async () => {
    const out = path.join(tmp, 'q.arrow');
    const q = await runCli(['ingest', '--dataset', 'FashionMNIST', '--out', out, '--quality', '0']);
    expectOneLineError(q, /--quality must be between 1 and 100, got 0/);
    const k = await runCli(['ingest', '--dataset', 'FashionMNIST', '--out', out, '--resize_kernel', 'sinc']);
    expectOneLineError(k, /--resize_kernel.*must be one of cubic, linear, mitchell, lanczos3; got 'sinc'/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('unknown command', async () => {
    const r = await runCli(['trian']);
    expectOneLineError(r, /unknown command 'trian'; did you mean 'train'\?/);
  });

  it('missing dataset path: names --data_path and the path', async () => {
    const missing = path.join(tmp, 'no-such-dataset');
    const r = await runCli(['train', '--dataset', 'CUB', '--data_path', missing, '--output_dir', path.join(tmp, 'b')]);
    expectOneLineError(r, new RegExp(`--data_path ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
    expect(fs.existsSync(path.join(tmp, 'b'))).toBe(false);
  });

  it('the official placeholder data path is explained', async () => {
    const r = await runCli(['train']);
    expectOneLineError(r, /--data_path \/path\/to\/dataset does not exist \(the official placeholder/);
  });

  it('ingest without --data_path for a folder dataset', async () => {
    const r = await runCli(['ingest', '--dataset', 'CUB', '--out', path.join(tmp, 'x.arrow')]);
    expectOneLineError(r, /--data_path is required/);
  });

  it('conflicting flags: --devices and its alias --nproc_per_node disagree', async () => {
    const r = await runCli(['train', '--devices', '2', '--nproc_per_node', '4', '--data_path', tmp]);
    expectOneLineError(r, /conflicting flags: --devices given twice with different values \(2 and 4/);
    expect(r.code).toBe(2);
  });

  it('invalid combination: IPC not dividing the batch, refused before any work', async () => {
    const r = await runCli(['train', '--batch_size', '45', '--IPC', '2', '--data_path', tmp, '--output_dir', path.join(tmp, 'c')]);
    expectOneLineError(r, /--IPC: 2 does not divide .*--batch_size 45/);
    expect(fs.existsSync(path.join(tmp, 'c'))).toBe(false);
  });

  it('invalid combination: SupCon with HIER', async () => {
    const r = await runCli(['train', '--loss', 'SupCon', '--lambda2', '0.5', '--data_path', tmp]);
    expectOneLineError(r, /--lambda2: must be <= 0 with --loss SupCon/);
  });

  it('malformed values and config files name the flag / file / key', async () => {
    expectOneLineError(await runCli(['train', '--lr', 'fast']), /--lr expects a finite number, got 'fast'/);
    expectOneLineError(await runCli(['train', '--bn_freeze', 'maybe']), /unexpected argument 'maybe'/);
    const cfg = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(cfg, 'lr: 1e-4\nbatchsize: 90\n');
    expectOneLineError(await runCli(['train', '--config', cfg]), /config file .*bad\.yaml: unknown key 'batchsize' for 'hier train'; did you mean 'batch_size'\?/);
  });

  it('HIER_DEBUG=1 adds the stack trace', async () => {
    const r = await runCli(['train', '--data_path', path.join(tmp, 'nope')], { env: { HIER_DEBUG: '1' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('--help exits 0 and documents every train flag with its default', async () => {
    const r = await runCli(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--bn_freeze, --bn-freeze \[BOOL\]/);
    expect(r.stdout).toMatch(/--devices, --nproc-per-node, --nproc_per_node <int>|--devices, .*nproc/);
    expect(r.stdout).toMatch(/--lr <number>\n\s+.*\(default: 0\.00001\)/);
  });
});
