import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveWorkerUrl } from '@hier-ts/core';
import { type EmbeddingModel, initBackend, tf } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from './checkpoint.js';
import { type TrainConfig, defaultConfig } from './config.js';
import { type ToyDataOptions, createToyData, toyFactory } from './toy.js';
import { type TrainDeps, train } from './train.js';

const factoryOptions = { inputSize: 16, hidden: 12, numClasses: 4, randomLoss: true };
const dataOpts: ToyDataOptions = { numImages: 96, numClasses: 4, imageShape: [4, 4, 1], globalBatch: 8, ipc: 2, seed: 3 };
const factory = { module: resolveWorkerUrl(import.meta.url, './toy.js').href, export: 'toyFactory', options: factoryOptions };

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hier-trainer-'));
}

function cfg(out: string, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...defaultConfig(),
    model: 'cnn4',
    emb: 6,
    lr: 2e-2,
    epochs: 3,
    warmup_epochs: 1,
    batch_size: 8,
    lambda2: 0,
    use_fp16: false,
    backend: 'wasm',
    output_dir: out,
    max_iters: 5,
    log_every: 2,
    progress: false,
    ...over,
  };
}

/** Leave-one-out 1-NN accuracy on a fixed toy set (a stand-in for @hier-ts/eval). */
async function toyRecall(model: EmbeddingModel): Promise<Record<string, number>> {
  const d = createToyData({ ...dataOpts, seed: 11 });
  const n = 40;
  const images = new Float32Array(n * 16);
  for (let i = 0; i < n; i++) d.image(i, images, i * 16);
  const x = tf.tensor4d(images, [n, 4, 4, 1]);
  const z = model.embed(x, 'eval');
  const e = (await z.data()) as Float32Array;
  tf.dispose([x, z]);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let bestJ = -1;
    let bestD = Number.POSITIVE_INFINITY;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let k = 0; k < 6; k++) s += (e[i * 6 + k]! - e[j * 6 + k]!) ** 2;
      if (s < bestD) [bestD, bestJ] = [s, j];
    }
    if (d.labels[bestJ] === d.labels[i]) hits++;
  }
  return { 'R@1': hits / n };
}

function deps(over: Partial<TrainDeps> = {}): TrainDeps {
  return { factory, localFactory: toyFactory as never, data: createToyData(dataOpts), evaluate: (m) => toyRecall(m), ...over };
}

describe('train()', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('trains, evaluates on the official schedule, logs and checkpoints', async () => {
    const out = tmp();
    const r = await train(cfg(out, { eval_freq: 1 }), deps());
    expect(r.epochsRun).toBe(3);
    expect(r.iterations).toBe(15);
    // warmup_epochs 1: no evaluation after epoch 0
    expect(r.history.map((h) => h.metrics !== undefined)).toEqual([false, true, true]);
    expect(r.history[2]!.loss).toBeLessThan(r.history[0]!.loss);
    expect(r.best).not.toBeNull();
    const log = fs.readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.kind === 'epoch')).toHaveLength(3);
    expect(log.filter((l) => l.kind === 'step').map((l) => l.iteration)).toEqual([2, 4, 6, 8, 10, 12, 14]);
    const last = await loadCheckpoint(path.join(out, 'checkpoints', 'last'));
    expect(last.state.epoch).toBe(3);
    expect(last.state.iteration).toBe(15);
    expect(last.replica.optimizer.step).toBe(15);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'best', 'state.json'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')).last.epoch).toBe(2);
    r.model.dispose();
  });

  it('stops on a NaN loss naming the step and the term, with a diagnostic checkpoint', async () => {
    const out = tmp();
    const base = createToyData(dataOpts);
    const data = {
      ...base,
      *batches(epoch: number, start: number, iters: number) {
        let i = start;
        for (const b of base.batches(epoch, start, iters)) {
          if (epoch === 1 && i === 2) b.images[5] = Number.NaN;
          i++;
          yield b;
        }
      },
    };
    await expect(train(cfg(out), deps({ data }))).rejects.toThrow(/non-finite metric loss at epoch 1 step 2 \(iteration 7\)/);
    const diag = await loadCheckpoint(path.join(out, 'checkpoints', 'nan-it7'));
    expect(diag.state.reason).toBe('nan');
    expect(diag.replica.optimizer.step).toBe(7);
  });

  it('refuses to resume with an incompatible config, naming the fields', async () => {
    const out = tmp();
    const r = await train(cfg(out, { epochs: 1 }), deps({ evaluate: undefined }));
    r.model.dispose();
    await expect(train(cfg(out, { epochs: 2, resume: 'auto', emb: 5, seed: 4 }), deps())).rejects.toThrow(/differs in 2 field\(s\).*emb: 6 -> 5; seed: 0 -> 4/);
  });

  it('a run killed with SIGKILL mid-epoch resumes to exactly the uninterrupted parameters', async () => {
    const script = resolveWorkerUrl(import.meta.url, './toy-run.js');
    const killedOut = tmp();
    const spec = { config: cfg(killedOut, { epochs: 4 }), data: dataOpts, factoryOptions, stepDelayMs: 120 };
    const child = spawn(process.execPath, [new URL(script).pathname, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
    // Wait until epoch 2 has been checkpointed, then kill inside epoch 3.
    const lastState = path.join(killedOut, 'checkpoints', 'last', 'state.json');
    const t0 = Date.now();
    for (;;) {
      if (fs.existsSync(lastState)) {
        try {
          if (JSON.parse(fs.readFileSync(lastState, 'utf8')).epoch >= 2) break;
        } catch {
          // being replaced right now
        }
      }
      if (Date.now() - t0 > 60_000) throw new Error(`child never reached epoch 2: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 250));
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    const killedAt = JSON.parse(fs.readFileSync(lastState, 'utf8'));
    expect(killedAt.epoch).toBe(2);

    const resumed = await train({ ...spec.config, resume: 'auto' }, deps({ evaluate: undefined, data: createToyData(dataOpts) }));
    expect(resumed.epochsRun).toBe(2);
    const full = await train(cfg(tmp(), { epochs: 4 }), deps({ evaluate: undefined, data: createToyData(dataOpts) }));
    expect(resumed.iterations).toBe(full.iterations);
    expect(Array.from(resumed.parameters)).toEqual(Array.from(full.parameters));
    resumed.model.dispose();
    full.model.dispose();
  });

  it('resumes a 2-replica (threads) run from an epoch checkpoint to the uninterrupted parameters', async () => {
    const outA = tmp();
    const two = (out: string, over: Partial<TrainConfig> = {}) => cfg(out, { devices: 2, batch_size: 4, saveckp_freq: 1, keep_last: 3, ...over });
    const full = await train(two(outA), deps({ evaluate: undefined, data: createToyData(dataOpts) }));
    expect(fs.readdirSync(path.join(outA, 'checkpoints')).filter((n) => n.startsWith('epoch-')).sort()).toEqual(['epoch-0001', 'epoch-0002', 'epoch-0003']);
    const outB = tmp();
    fs.cpSync(path.join(outA, 'checkpoints', 'epoch-0001'), path.join(outB, 'checkpoints', 'last'), { recursive: true });
    const resumed = await train(two(outB, { resume: 'auto' }), deps({ evaluate: undefined, data: createToyData(dataOpts) }));
    expect(resumed.epochsRun).toBe(2);
    expect(Array.from(resumed.parameters)).toEqual(Array.from(full.parameters));
    full.model.dispose();
    resumed.model.dispose();
  });
});
