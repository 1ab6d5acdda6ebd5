import path from 'node:path';
import { writeFileAtomic } from '@hier-ts/core';
import type { EmbeddedSplit, EvalResult } from './evaluate.js';
import { exportEmbeddingsArrow, type ExportSplit } from './export.js';
import { buildHierarchy, type HierarchyJson, hierarchyToJson } from './hierarchy.js';
import { type MatrixLike, toMatrix } from './matrix.js';
import { hierarchySvg, poincareDiskSvg, umapScatterSvg } from './pictures.js';
import { writePicture } from './svg.js';

export interface ArtifactInput {
  dir: string;
  query: EmbeddedSplit;
  gallery?: EmbeddedSplit | null;
  result?: EvalResult;
  /** The HIER hierarchical proxies as ball points (after ToPoincare); enables the hierarchy outputs. */
  proxies?: MatrixLike;
  /** Curvature of the embeddings; 0 for Euclidean runs (UMAP scatter, no hierarchy). */
  c: number;
  title?: string;
  /** Also render PNGs next to the SVGs (default true). */
  png?: boolean;
  seed?: number;
  /** Extra schema metadata for the Arrow file. */
  metadata?: Record<string, string>;
}

/**
 * Everything an evaluation leaves on disk, in one call (what `hier eval` / the trainer write): `metrics.json`,
 * `embeddings.arrow`, `disk.svg|png` (Poincaré disk; `umap.svg|png` when c = 0), and with proxies
 * `hierarchy.json` + `hierarchy.svg|png`. Pictures are coloured by coarse labels when the split has them.
 */
export async function writeEvalArtifacts(input: ArtifactInput): Promise<{ files: string[]; hierarchyScores?: HierarchyJson['scores'] }> {
  const files: string[] = [];
  const png = input.png ?? true;
  const out = (name: string) => path.join(input.dir, name);
  if (input.result) {
    await writeFileAtomic(out('metrics.json'), `${JSON.stringify(input.result, null, 2)}\n`);
    files.push(out('metrics.json'));
  }
  const splits: ExportSplit[] = input.gallery
    ? [
        { split: 'query', ...input.query },
        { split: 'gallery', ...input.gallery },
      ]
    : [{ split: 'test', ...input.query }];
  await exportEmbeddingsArrow(out('embeddings.arrow'), splits, {
    c: String(input.c),
    ...(input.result ? { protocol: input.result.protocol, similarity: input.result.similarity } : {}),
    ...input.metadata,
  });
  files.push(out('embeddings.arrow'));
  const samples = input.query.embeddings;
  const colour = input.query.coarseLabels ?? input.query.labels;
  const proxies = input.proxies ? await toMatrix(input.proxies, 'hierarchical proxies') : undefined;
  const picture = async (name: string, svg: string) => {
    await writePicture(out(`${name}.svg`), svg);
    files.push(out(`${name}.svg`));
    if (png) {
      await writePicture(out(`${name}.png`), svg);
      files.push(out(`${name}.png`));
    }
  };
  if (input.c > 0) {
    const h = proxies ? await buildHierarchy(proxies, samples, { c: input.c }) : undefined;
    const disk = poincareDiskSvg({
      samples,
      labels: colour,
      ...(proxies ? { proxies } : {}),
      ...(h ? { hierarchy: h } : {}),
      c: input.c,
      title: input.title ?? 'Poincaré disk',
      seed: input.seed ?? 0,
    });
    await picture('disk', disk.svg);
    if (h) {
      const json = hierarchyToJson(h, input.query.labels, input.query.coarseLabels);
      await writeFileAtomic(out('hierarchy.json'), `${JSON.stringify(json)}\n`);
      files.push(out('hierarchy.json'));
      await picture('hierarchy', hierarchySvg(h, { labels: colour, title: input.title ?? 'learned hierarchy' }).svg);
      return { files, ...(json.scores ? { hierarchyScores: json.scores } : {}) };
    }
  } else {
    await picture('umap', umapScatterSvg({ samples, labels: colour, title: input.title ?? 'UMAP', seed: input.seed ?? 0 }).svg);
  }
  return { files };
}
