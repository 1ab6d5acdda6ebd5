import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { TrainResult } from '@hier-ts/trainer';
import { flagKey } from '../args.js';
import type { Command } from '../cli.js';
import { chooseBackend, pct } from '../common.js';

const EXAMPLES = [
  'examples:',
  '  hier train --dataset FashionMNIST --data_path fmnist.arrow --model cnn4 --image_size 28 --lr 1e-3 --epochs 6 \\',
  '             --loss PA --lambda2 0.5 --num_hproxies 64 --topk 20 --warmup_epochs 0 --devices 2 --output_dir runs/fmnist',
  '  hier train --config runs/fmnist/config.json --resume auto        # continue a killed run',
  '  hier train --config scripts/cub_r50.yaml --backend tensorflow-gpu --devices 2   # (needs @tensorflow/tfjs-node-gpu)',
];

/** Flags of `hier train` that steer the CLI or the replica factory rather than TrainConfig. */
const CLI_ONLY = new Set(['official_bool_parsing', 'metric_lr_scale', 'hier_lr_scale']);

export const trainCommand: Command = {
  name: 'train',
  summary: 'train',
  examples: EXAMPLES,
  async flags(argv) {
    const { trainFlagTable } = await import('../train-flags.js');
    const official = argv.some((a) => /^--official[-_]bool[-_]parsing(=(true|1|yes|on))?$/i.test(a));
    return trainFlagTable(official);
  },
  async run(args, io) {
    const trainer = await import('@hier-ts/trainer');
    const values: Record<string, string | number | boolean | null> = {};
    for (const [k, v] of Object.entries(args.values)) {
      if (CLI_ONLY.has(flagKey(k))) continue;
      values[k] = v as string | number | boolean | null;
    }
    const scales = args.values as { metric_lr_scale?: number; hier_lr_scale?: number };
    for (const [flag, s] of Object.entries(scales)) {
      if ((flag === 'metric_lr_scale' || flag === 'hier_lr_scale') && s !== undefined && !(s > 0)) throw new HierError('E_FLAG_VALUE', `--${flag} must be > 0, got ${s}`);
    }
    const cfg = trainer.validateConfig(trainer.configFromFlags(values));
    checkDataPath(cfg.data_path, cfg.resume);
    // A run folder given to --resume means its last checkpoint.
    if (cfg.resume !== null && cfg.resume !== 'auto' && !fs.existsSync(path.join(cfg.resume, 'state.json'))) {
      const last = path.join(cfg.resume, 'checkpoints', 'last');
      if (!fs.existsSync(path.join(last, 'state.json'))) throw new HierError('E_PATH', `--resume ${cfg.resume} holds no checkpoint (state.json) and no checkpoints/last`);
      cfg.resume = last;
    }
    await chooseBackend(cfg.backend, io);
    const { runTraining } = await import('../wiring/session.js');
    const log = (line: string) => io.stderr.write(`${line}\n`);
    const s = await runTraining(cfg, {
      log,
      progressStream: io.stderr,
      ...(scales.metric_lr_scale !== undefined ? { metricLrScale: scales.metric_lr_scale } : {}),
      ...(scales.hier_lr_scale !== undefined ? { hierLrScale: scales.hier_lr_scale } : {}),
    });
    await s.dataset.close();
    io.stdout.write(formatTrainResult(s.result));
    return 0;
  },
};

/** The official default (/path/to/dataset) and typos are caught here, before any model is built. */
export function checkDataPath(dataPath: string, resume: string | null): void {
  if (!fs.existsSync(dataPath)) {
    const hint = dataPath === '/path/to/dataset' ? ' (the official placeholder: pass the dataset folder or an Arrow file from hier ingest)' : '';
    throw new HierError('E_PATH', `--data_path ${dataPath} does not exist${hint}`);
  }
  if (resume !== null && resume !== 'auto' && !fs.existsSync(resume)) {
    throw new HierError('E_PATH', `--resume ${resume} does not exist (give a checkpoint folder, or 'auto')`);
  }
}

function formatTrainResult(r: TrainResult): string {
  const lines = [`run folder: ${path.resolve(r.outputDir)} (${r.epochsRun} epoch(s) run, ${r.iterations} iterations in total)`];
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${pct(v)}`).join('  ');
  if (r.last) lines.push(`last: ${fmt(r.last)}`);
  if (r.best) lines.push(`best (epoch ${r.best.epoch}): ${fmt(r.best.metrics)}`);
  lines.push(`checkpoints: ${r.checkpointDir}`);
  return `${lines.join('\n')}\n`;
}
