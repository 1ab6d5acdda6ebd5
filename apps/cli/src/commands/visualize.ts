import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { FlagTable } from '../args.js';
import type { Command } from '../cli.js';
import { BACKEND_FLAG, chooseBackend, ensureDir, requireExisting } from '../common.js';

const table = new FlagTable([
  { name: 'checkpoint', type: 'path', help: 'checkpoint or run folder: embeds --split and draws its HIER proxies and learned hierarchy' },
  { name: 'embeddings', type: 'path', help: 'Arrow file from hier embed (instead of embedding again; proxies still come from --checkpoint when given)' },
  { name: 'data_path', type: 'path', help: "Arrow file or dataset folder (default: the run's own --data_path)" },
  { name: 'split', type: 'string', help: "split to draw (default: the protocol's headline split, e.g. unseen for FashionMNIST)" },
  { name: 'limit', type: 'int', help: 'only the first N rows of the split' },
  { name: 'out', type: 'path', help: 'folder for poincare-disk.{svg,png} and hierarchy.{json,svg,png} (default: <run folder>/pictures)' },
  { name: 'format', type: 'list', default: ['svg', 'png'], help: 'picture formats: svg, png or both' },
  { name: 'max_samples', type: 'int', default: 3000, help: 'samples drawn at most (seeded subsample; proxies are always drawn)' },
  { name: 'c', type: 'number', help: "curvature for --embeddings without --checkpoint (default: the file's hyp_c metadata, else 0.1)" },
  { name: 'projection', type: 'string', choices: ['pca', 'pca-linear', 'umap'], default: 'pca', help: 'disk layout: pca (tangent PCA directions, true radii), pca-linear, or umap (spreads clusters apart)' },
  { name: 'thumbnails', type: 'int', default: 0, help: 'place up to N of the images themselves on the disk, spread apart (needs the dataset: not with --embeddings)' },
  { name: 'thumbnail_size', type: 'int', default: 28, help: 'thumbnail edge in pixels of the 800-px picture' },
  BACKEND_FLAG,
]);

export const visualizeCommand: Command = {
  name: 'visualize',
  summary: 'visualize',
  examples: ['examples:', '  hier visualize --checkpoint runs/fmnist                         # unseen split, disk + hierarchy', '  hier visualize --embeddings fmnist-emb.arrow --checkpoint runs/fmnist --split seen --format svg',
    '  hier visualize --checkpoint runs/fmnist --thumbnails 60                     # the images themselves on the disk'],
  async flags() {
    return table;
  },
  async run(args, io) {
    const v = args.values as { checkpoint?: string; embeddings?: string; data_path?: string; split?: string; limit?: number; out?: string; format: string[]; max_samples: number; c?: number; projection: string; thumbnails: number; thumbnail_size: number; backend: string };
    if (!v.checkpoint && !v.embeddings) throw new HierError('E_FLAG_MISSING', "'hier visualize' needs --checkpoint or --embeddings");
    if (v.embeddings) requireExisting('embeddings', v.embeddings, 'file');
    if (v.thumbnails < 0) throw new HierError('E_FLAG_VALUE', `--thumbnails must be ≥ 0, got ${v.thumbnails}`);
    if (v.thumbnail_size < 4 || v.thumbnail_size > 256) throw new HierError('E_FLAG_VALUE', `--thumbnail_size must be in 4..256 pixels, got ${v.thumbnail_size}`);
    if (v.thumbnails > 0 && v.embeddings) {
      throw new HierError('E_FLAG_VALUE', '--thumbnails needs the images: draw from --checkpoint (which embeds its dataset) instead of --embeddings');
    }
    const formats = v.format.map((f) => f.toLowerCase());
    for (const f of formats) if (f !== 'svg' && f !== 'png') throw new HierError('E_FLAG_VALUE', `--format must list svg and/or png, got '${f}'`);
    const log = (line: string) => io.stderr.write(`${line}\n`);
    const { drawRun } = await import('../wiring/pictures.js');
    const { evalPlan } = await import('../wiring/data.js');
    const eval_ = await import('@hier-ts/eval');
    await chooseBackend(v.backend, io);

    let restored: Awaited<ReturnType<typeof import('../wiring/restore.js').restoreRun>> | null = null;
    let embedded: import('@hier-ts/eval').EmbeddedSplit;
    let split: string;
    let c: number;
    let labelNames: readonly string[] | undefined;
    let thumbnails: Map<number, string> | undefined;
    if (v.embeddings) {
      if (v.checkpoint) restored = await (await import('../wiring/restore.js')).restoreRun(v.checkpoint);
      const file = await eval_.readEmbeddingsArrow(v.embeddings);
      const pick = v.split ? file.splits.find((s) => s.split === v.split) : file.splits[0];
      if (!pick) throw new HierError('E_FLAG_VALUE', `--split ${v.split} is not in ${v.embeddings} (it has ${file.splits.map((s) => s.split).join(', ')})`);
      split = pick.split;
      const n = v.limit ? Math.min(v.limit, pick.embeddings.rows) : pick.embeddings.rows;
      const d = pick.embeddings.dim;
      embedded = {
        embeddings: { data: pick.embeddings.data.subarray(0, n * d), rows: n, dim: d },
        labels: pick.labels.subarray(0, n),
        indices: (pick.indices ?? Int32Array.from({ length: n }, (_, i) => i)).subarray(0, n),
        ...(pick.coarseLabels ? { coarseLabels: pick.coarseLabels.subarray(0, n) } : {}),
      };
      c = v.c ?? restored?.config.hyp_c ?? (Number(file.metadata.hyp_c) || 0.1);
    } else {
      const { openRunData } = await import('../wiring/open-run.js');
      const run = await openRunData({ checkpoint: v.checkpoint!, ...(v.data_path ? { data_path: v.data_path } : {}) }, log);
      restored = run.restored;
      try {
        const plan = evalPlan(run.dataset.info.dataset);
        split = v.split ?? plan.pair?.query ?? plan.splits[0]!;
        const { evalSource } = await import('../wiring/data.js');
        const src = await evalSource(run.dataset, split, restored.config, plan.coarseColumn, v.limit);
        embedded = await eval_.embedSource(restored.model, src, `split '${split}'`);
        labelNames = run.dataset.info.classNames;
        if (v.thumbnails > 0) {
          const { loadThumbnails } = await import('../wiring/thumbnails.js');
          thumbnails = await loadThumbnails(run.dataset, split, embedded.indices, v.thumbnails, v.thumbnail_size);
        }
      } finally {
        await run.dataset.close();
      }
      c = restored.config.hyp_c;
    }
    const outDir = ensureDir('out', v.out ?? path.join(restored?.runDir ?? '.', 'pictures'));
    const title = `${restored ? `${restored.config.dataset} ${restored.config.model}` : path.basename(v.embeddings!)}: ${split}`;
    const pics = await drawRun(
      outDir,
      { split, embedded },
      restored?.proxies ?? null,
      {
        c,
        title,
        formats: formats as ('svg' | 'png')[],
        maxSamples: v.max_samples,
        projection: v.projection as 'pca' | 'pca-linear' | 'umap',
        ...(labelNames ? { labelNames } : {}),
        ...(thumbnails ? { thumbnails: { images: thumbnails, count: v.thumbnails, size: v.thumbnail_size } } : {}),
      },
    );
    io.stdout.write(`${JSON.stringify({ split, samples: embedded.embeddings.rows, ...pics })}\n`);
    return 0;
  },
};
