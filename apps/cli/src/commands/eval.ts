import path from 'node:path';
import { FlagTable } from '../args.js';
import type { Command } from '../cli.js';
import { BACKEND_FLAG, chooseBackend, outputFile, writeJson } from '../common.js';

export const CHECKPOINT_FLAGS = [
  { name: 'checkpoint', type: 'path', required: true, help: 'Checkpoint folder, or a run folder (checkpoints/best, else checkpoints/last)' },
  { name: 'data_path', type: 'path', help: "Arrow file or dataset folder (default: the run's own --data_path)" },
  { name: 'split', type: 'list', help: "splits to use (default: the dataset protocol's, e.g. unseen,seen for FashionMNIST, test for CUB)" },
  { name: 'limit', type: 'int', help: 'only the first N rows of each split (quick checks)' },
  BACKEND_FLAG,
] as const;

const table = new FlagTable([
  ...CHECKPOINT_FLAGS,
  { name: 'out', type: 'path', help: 'metrics JSON to write (default: <run folder>/eval.json, else ./eval.json)' },
]);

export const evalCommand: Command = {
  name: 'eval',
  summary: 'eval',
  examples: ['examples:', '  hier eval --checkpoint runs/fmnist            # best checkpoint, protocol splits, Poincaré ranking', '  hier eval --checkpoint runs/cub/checkpoints/last --data_path cub.arrow --out cub-eval.json'],
  async flags() {
    return table;
  },
  async run(args, io) {
    const v = args.values as { checkpoint: string; data_path?: string; split?: string[]; limit?: number; out?: string; backend: string };
    const { openRunData } = await import('../wiring/open-run.js');
    await chooseBackend(v.backend, io);
    const log = (line: string) => io.stderr.write(`${line}\n`);
    const run = await openRunData(v, log);
    try {
      const { evaluateSplits, flattenMetrics } = await import('../wiring/evaluation.js');
      const { formatEvalResult } = await import('@hier-ts/eval');
      const evals = await evaluateSplits(run.restored.model, run.dataset, run.restored.config, { ...(v.split ? { splits: v.split } : {}), ...(v.limit ? { limit: v.limit } : {}), log });
      const out = outputFile('out', v.out ?? path.join(run.restored.runDir ?? '.', 'eval.json'));
      await writeJson(out, {
        checkpoint: run.restored.checkpointDir,
        epoch: run.restored.epoch,
        data: run.arrowFile,
        metrics: flattenMetrics(evals),
        splits: Object.fromEntries(evals.map((e) => [e.split, e.result])),
      });
      for (const e of evals) io.stdout.write(`${e.split}: ${formatEvalResult(e.result)}\n`);
      io.stdout.write(`metrics: ${out}\n`);
    } finally {
      await run.dataset.close();
    }
    return 0;
  },
};
