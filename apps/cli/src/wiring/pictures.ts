/**
 * Pictures and the learned hierarchy of a trained run (@hier-ts/eval does the drawing and the tree): the Poincaré
 * disk with the samples and the hierarchical proxies, and the proxy tree scored against the coarse labels.
 */
import path from 'node:path';
import { tf } from '@hier-ts/engine';
import type { LearnedHierarchy, Matrix } from '@hier-ts/eval';
import { toPoincare } from '@hier-ts/hyperbolic';
import { writeJson } from '../common.js';
import type { SplitEvaluation } from './evaluation.js';

/** Λ mapped into the ball as HIER's forward does (ToPoincare: clip to clipR, expmap0, project; spec §1.7). */
export function proxiesInBall(lcas: Float32Array, dim: number, c: number, clipR: number): Matrix {
  const rows = lcas.length / dim;
  const ball = tf.tidy(() => toPoincare(tf.tensor2d(lcas, [rows, dim]), { c, clipR, riemannian: false }));
  const data = ball.dataSync() as Float32Array;
  ball.dispose();
  return { data, rows, dim };
}

export interface PictureFiles {
  disk: string[];
  hierarchy: string[];
  hierarchyJson: string | null;
  purity: { fine?: number; coarse?: number } | null;
  /** Images placed on the disk, when thumbnails were given. */
  thumbnails?: number;
}

export interface DiskOptions {
  c: number;
  title: string;
  formats?: ('svg' | 'png')[];
  maxSamples?: number;
  /** Disk layout (default 'pca'; Euclidean runs always use UMAP). */
  projection?: 'pca' | 'pca-linear' | 'umap';
  labelNames?: readonly string[];
  /** Images placed on the disk (see @hier-ts/eval `DiskPictureInput.thumbnails`). */
  thumbnails?: { images: ReadonlyMap<number, string>; count: number; size?: number };
}

/**
 * Writes `<base>.{svg,png}`: the Poincaré disk of the split's samples (with the proxies and, when given, the tree's
 * parent links), or a UMAP scatter for Euclidean runs (c = 0). Returns the files and how many images were placed.
 */
export async function drawDisk(
  outDir: string,
  base: string,
  embedded: SplitEvaluation['embedded'],
  proxies: Matrix | null,
  hierarchy: LearnedHierarchy | null,
  opts: DiskOptions,
): Promise<{ files: string[]; thumbnails?: number }> {
  const ev = await import('@hier-ts/eval');
  const common = {
    samples: embedded.embeddings,
    labels: embedded.labels,
    title: opts.title,
    maxSamples: opts.maxSamples ?? 3000,
    ...(opts.labelNames ? { labelNames: opts.labelNames } : {}),
    ...(opts.thumbnails ? { thumbnails: opts.thumbnails } : {}),
  };
  const pic =
    opts.c > 0
      ? ev.poincareDiskSvg({
          ...common,
          ...(proxies ? { proxies } : {}),
          ...(hierarchy ? { hierarchy } : {}),
          c: opts.c,
          ...(opts.projection ? { projection: opts.projection } : {}),
        })
      : ev.umapScatterSvg(common);
  const files: string[] = [];
  for (const f of opts.formats ?? ['svg', 'png']) files.push((await ev.writePicture(path.join(outDir, `${base}.${f}`), pic.svg)).path);
  return { files, ...(pic.thumbnails !== undefined ? { thumbnails: pic.thumbnails } : {}) };
}

/**
 * Writes `poincare-disk.{svg,png}` (samples of the headline split coloured by class, proxies in black, the tree's
 * parent links) and, when proxies exist, `hierarchy.{json,svg,png}` with dendrogram purity against the labels.
 */
export async function drawRun(
  outDir: string,
  evaluation: Pick<SplitEvaluation, 'split' | 'embedded'>,
  proxies: Matrix | null,
  opts: DiskOptions,
): Promise<PictureFiles> {
  const ev = await import('@hier-ts/eval');
  const formats = opts.formats ?? ['svg', 'png'];
  const samples = evaluation.embedded.embeddings;
  const labels = evaluation.embedded.labels;
  const coarse = evaluation.embedded.coarseLabels;
  const hierarchy = proxies && opts.c > 0 ? await ev.buildHierarchy(proxies, samples, { c: opts.c }) : null;
  const disk = await drawDisk(outDir, opts.c > 0 ? 'poincare-disk' : 'umap', evaluation.embedded, proxies, hierarchy, opts);
  const files: PictureFiles = {
    disk: disk.files,
    hierarchy: [],
    hierarchyJson: null,
    purity: null,
    ...(disk.thumbnails !== undefined ? { thumbnails: disk.thumbnails } : {}),
  };
  if (hierarchy) {
    const json = ev.hierarchyToJson(hierarchy, labels, coarse);
    files.hierarchyJson = path.join(outDir, 'hierarchy.json');
    await writeJson(files.hierarchyJson, json);
    const tree = ev.hierarchySvg(hierarchy, { labels: coarse ?? labels, title: `${opts.title}: learned hierarchy` });
    for (const f of formats) files.hierarchy.push((await ev.writePicture(path.join(outDir, `hierarchy.${f}`), tree.svg)).path);
    files.purity = {
      fine: ev.dendrogramPurity(hierarchy, labels).purity,
      ...(coarse ? { coarse: ev.dendrogramPurity(hierarchy, coarse).purity } : {}),
    };
  }
  return files;
}
