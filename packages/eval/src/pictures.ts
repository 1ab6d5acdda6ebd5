import { HierError, Rng } from '@hier-ts/core';
import { type LearnedHierarchy, nodeMajority } from './hierarchy.js';
import type { Labels } from './metrics.js';
import { checkMatrix, type Matrix } from './matrix.js';
import { layout2d, type Projection } from './project2d.js';
import { colorFor, escapeXml } from './svg.js';

export interface DiskPictureInput {
  samples: Matrix;
  /** Colour of each sample (class or coarse class). */
  labels?: Labels;
  /** Hierarchical proxies, drawn in black. */
  proxies?: Matrix;
  /** Draws the learned tree's parent links between proxies (and the origin). */
  hierarchy?: LearnedHierarchy;
  /** Curvature; 0 means Euclidean embeddings (a plain scatter, no disk). */
  c: number;
  projection?: Projection;
  title?: string;
  /** Samples drawn at most (seeded subsample); proxies are always drawn. */
  maxSamples?: number;
  seed?: number;
  size?: number;
  /** Names for label ids in the legend (default: the id). */
  labelNames?: readonly string[] | ((label: number) => string);
  /** Colour legend of the drawn labels (default: when labels are given); at most `LEGEND_MAX` rows are listed. */
  legend?: boolean;
  /**
   * Images on the disk (what users of hyperbolic embeddings ask for: which pictures sit where). `images` maps a
   * sample row to an image href (e.g. a `data:image/png;base64,…` URI); up to `count` of them, spread out by
   * farthest-point sampling in the drawn layout (fewer where they would overlap by more than a quarter), are placed
   * centred on their samples, `size` px wide (default 28), framed in the sample's colour. Those samples are always
   * drawn; the result's `thumbnails` says how many images were placed.
   */
  thumbnails?: { images: ReadonlyMap<number, string>; count: number; size?: number };
}

/** Legend rows listed before "… n more". */
export const LEGEND_MAX = 24;

function labelName(names: DiskPictureInput['labelNames'], label: number): string {
  if (typeof names === 'function') return names(label);
  return names?.[label] ?? String(label);
}

/** The legend block: one swatch per drawn label (by frequency), proxies last. */
function legendSvg(labels: number[], names: DiskPictureInput['labelNames'], proxies: boolean, size: number): string {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const order = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || a - b);
  const shown = order.slice(0, LEGEND_MAX);
  // [swatch markup, label text]
  const rows: [string, string][] = shown.map((l) => [`<circle r="4" fill="${colorFor(l)}"/>`, escapeXml(labelName(names, l))]);
  if (order.length > shown.length) rows.push(['', `… ${order.length - shown.length} more`]);
  if (proxies) rows.push(['<circle r="3.2" fill="black"/>', 'hierarchical proxy']);
  const x = size - 170;
  const out = [`<g font-family="sans-serif" font-size="11" fill="#222">`];
  out.push(`<rect x="${x - 8}" y="30" width="170" height="${rows.length * 15 + 8}" fill="white" fill-opacity="0.85" stroke="#bbb"/>`);
  rows.forEach(([mark, text], i) => {
    const y = 44 + i * 15;
    if (mark) out.push(`<g transform="translate(${x},${y - 4})">${mark}</g>`);
    out.push(`<text x="${x + 10}" y="${y}">${text}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

function subsample(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return new Rng(seed).sampleWithoutReplacement(n, max).sort((a, b) => a - b);
}

/**
 * Up to `count` of `candidates` chosen greedily far apart (farthest-point sampling in 2-D, starting from the one
 * farthest from the centre), so thumbnails overlap as little as the layout allows; picking stops once the next one
 * would be closer than `minDistance` to a chosen one. Deterministic.
 */
export function spreadOut(candidates: readonly number[], x: (i: number) => number, y: (i: number) => number, count: number, minDistance = 0): number[] {
  const n = candidates.length;
  const k = Math.max(0, Math.min(count, n));
  if (k === 0) return [];
  const best = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const taken = new Uint8Array(n);
  let next = 0;
  for (let j = 1; j < n; j++) {
    const a = candidates[j]!;
    const b = candidates[next]!;
    if (x(a) ** 2 + y(a) ** 2 > x(b) ** 2 + y(b) ** 2) next = j;
  }
  const out: number[] = [];
  for (let t = 0; t < k; t++) {
    out.push(candidates[next]!);
    taken[next] = 1;
    const c = candidates[next]!;
    let far = -1;
    for (let j = 0; j < n; j++) {
      if (taken[j]) continue;
      const a = candidates[j]!;
      best[j] = Math.min(best[j]!, (x(a) - x(c)) ** 2 + (y(a) - y(c)) ** 2);
      if (far < 0 || best[j]! > best[far]!) far = j;
    }
    if (far < 0 || best[far]! < minDistance * minDistance) break;
    next = far;
  }
  return out;
}

/**
 * The paper-style picture: samples coloured by class in the unit (Poincaré) disk, hierarchical proxies in black,
 * the boundary circle, optionally the learned tree. Layout: see `layout2d` (default: tangent PCA directions with
 * true ball radii). For c = 0 it is a plain 2-D scatter (use projection 'umap' for the usual UMAP picture).
 */
export function poincareDiskSvg(input: DiskPictureInput): { svg: string; explained?: number; thumbnails?: number } {
  checkMatrix(input.samples, 'picture samples');
  if (input.labels && input.labels.length !== input.samples.rows) {
    throw new HierError('E_SHAPE', `poincareDiskSvg: ${input.labels.length} labels for ${input.samples.rows} samples`);
  }
  if (input.proxies) {
    checkMatrix(input.proxies, 'picture proxies');
    if (input.proxies.dim !== input.samples.dim) throw new HierError('E_SHAPE', `poincareDiskSvg: proxies dim ${input.proxies.dim} ≠ samples dim ${input.samples.dim}`);
  }
  const size = input.size ?? 800;
  const seed = input.seed ?? 0;
  const maxSamples = input.maxSamples ?? 4000;
  // Thumbnail candidates are always drawn; the seeded subsample fills the rest of maxSamples.
  const thumbRows = [...new Set(input.thumbnails?.images.keys() ?? [])].filter((r) => Number.isInteger(r) && r >= 0 && r < input.samples.rows).slice(0, maxSamples);
  const drawn = subsample(input.samples.rows, maxSamples - thumbRows.length, seed);
  const pick = thumbRows.length ? [...new Set([...drawn, ...thumbRows])].sort((a, b) => a - b) : drawn;
  const d = input.samples.dim;
  const P = input.proxies?.rows ?? 0;
  const all = new Float32Array((pick.length + P) * d);
  pick.forEach((r, i) => {
    all.set(input.samples.data.subarray(r * d, r * d + d), i * d);
  });
  if (input.proxies) all.set(input.proxies.data, pick.length * d);
  const lay = layout2d({ data: all, rows: pick.length + P, dim: d }, input.c, input.projection ?? 'pca', { seed });
  const half = size / 2;
  const R = half * 0.92;
  const px = (i: number) => (half + lay.xy[2 * i]! * R).toFixed(2);
  const py = (i: number) => (half - lay.xy[2 * i + 1]! * R).toFixed(2);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  if (input.c > 0) out.push(`<circle cx="${half}" cy="${half}" r="${R}" fill="none" stroke="#333" stroke-width="1.5"/>`);
  const pr = Math.max(1.2, Math.min(3, 600 / Math.sqrt(pick.length + 1) / 6));
  out.push('<g fill-opacity="0.75">');
  pick.forEach((r, i) => {
    const col = input.labels ? colorFor(input.labels[r]!) : '#1f77b4';
    out.push(`<circle cx="${px(i)}" cy="${py(i)}" r="${pr.toFixed(2)}" fill="${col}"/>`);
  });
  out.push('</g>');
  let thumbCount = 0;
  if (input.thumbnails && thumbRows.length && input.thumbnails.count > 0) {
    const at = new Map(pick.map((r, i) => [r, i]));
    const ts = input.thumbnails.size ?? 28;
    // Thumbnails may overlap by a quarter of their edge, no more (layout units: the disk radius is R pixels).
    const chosen = spreadOut(
      thumbRows.map((r) => at.get(r)!),
      (i) => lay.xy[2 * i]!,
      (i) => lay.xy[2 * i + 1]!,
      input.thumbnails.count,
      (0.75 * ts) / R,
    );
    thumbCount = chosen.length;
    out.push('<g>');
    for (const i of chosen) {
      const r = pick[i]!;
      const x = (Number(px(i)) - ts / 2).toFixed(2);
      const y = (Number(py(i)) - ts / 2).toFixed(2);
      const col = input.labels ? colorFor(input.labels[r]!) : '#1f77b4';
      out.push(`<image href="${escapeXml(input.thumbnails.images.get(r)!)}" x="${x}" y="${y}" width="${ts}" height="${ts}" preserveAspectRatio="xMidYMid slice"/>`);
      out.push(`<rect x="${x}" y="${y}" width="${ts}" height="${ts}" fill="none" stroke="${col}" stroke-width="1.5"/>`);
    }
    out.push('</g>');
  }
  if (input.hierarchy && input.proxies) {
    out.push('<g stroke="#555" stroke-width="0.6" stroke-opacity="0.7">');
    for (const n of input.hierarchy.nodes) {
      if (n.kind !== 'proxy' || n.subtreeSamples === 0) continue;
      const parent = input.hierarchy.nodes[n.parent]!;
      const x1 = px(pick.length + n.proxy);
      const y1 = py(pick.length + n.proxy);
      const x2 = parent.kind === 'root' ? half.toFixed(2) : px(pick.length + parent.proxy);
      const y2 = parent.kind === 'root' ? half.toFixed(2) : py(pick.length + parent.proxy);
      out.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>`);
    }
    out.push('</g>');
  }
  if (P) {
    out.push('<g fill="black">');
    for (let p = 0; p < P; p++) out.push(`<circle cx="${px(pick.length + p)}" cy="${py(pick.length + p)}" r="3.2"/>`);
    out.push('</g>');
  }
  if (input.labels && input.legend !== false) out.push(legendSvg(pick.map((r) => input.labels![r]!), input.labelNames, P > 0, size));
  const caption = `${input.title ?? ''}${input.title ? ' — ' : ''}${input.samples.rows} samples${pick.length < input.samples.rows ? ` (${pick.length} drawn)` : ''}${P ? `, ${P} proxies` : ''}${thumbCount ? `, ${thumbCount} images` : ''}, ${lay.projection}${lay.explained !== undefined ? ` (${(100 * lay.explained).toFixed(1)}% var)` : ''}`;
  // ~0.55 em per character in sans-serif: shrink a long caption so it fits the picture's width.
  const captionSize = Math.max(8, Math.min(14, Math.floor((size - 20) / (0.55 * caption.length))));
  out.push(`<text x="10" y="20" font-family="sans-serif" font-size="${captionSize}" fill="#222">${escapeXml(caption)}</text>`);
  out.push('</svg>');
  return { svg: out.join('\n'), ...(lay.explained !== undefined ? { explained: lay.explained } : {}), ...(input.thumbnails ? { thumbnails: thumbCount } : {}) };
}

/** The Euclidean-run picture: a UMAP scatter of the embeddings coloured by class (seeded). */
export function umapScatterSvg(input: Omit<DiskPictureInput, 'c' | 'projection' | 'hierarchy'>): { svg: string; thumbnails?: number } {
  return poincareDiskSvg({ ...input, maxSamples: input.maxSamples ?? 3000, c: 0, projection: 'umap' });
}

/**
 * Draws the learned tree top-down: depth downwards, leaves spread by DFS order, node area ∝ samples in the subtree,
 * colour = majority (coarse) label. Empty subtrees are omitted.
 */
export function hierarchySvg(h: LearnedHierarchy, options: { labels?: Labels; title?: string; width?: number; height?: number } = {}): { svg: string } {
  const W = options.width ?? 1000;
  const H = options.height ?? 600;
  const maj = options.labels ? nodeMajority(h, options.labels) : null;
  const visible = (id: number) => h.nodes[id]!.subtreeSamples > 0 || id === 0;
  const xs = new Float64Array(h.nodes.length);
  let leaf = 0;
  let maxDepth = 0;
  const place = (id: number): void => {
    maxDepth = Math.max(maxDepth, h.nodes[id]!.depth);
    const kids = h.nodes[id]!.children.filter(visible);
    if (!kids.length) {
      xs[id] = leaf++;
      return;
    }
    for (const k of kids) place(k);
    xs[id] = (xs[kids[0]!]! + xs[kids[kids.length - 1]!]!) / 2;
  };
  place(0);
  const sx = (id: number) => (40 + (leaf > 1 ? (xs[id]! / (leaf - 1)) * (W - 80) : (W - 80) / 2)).toFixed(2);
  const sy = (id: number) => (50 + (maxDepth > 0 ? (h.nodes[id]!.depth / maxDepth) * (H - 90) : 0)).toFixed(2);
  const total = Math.max(1, h.nodes[0]!.subtreeSamples);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, '<rect width="100%" height="100%" fill="white"/>'];
  out.push('<g stroke="#888" stroke-width="1">');
  for (const n of h.nodes) {
    if (n.id === 0 || !visible(n.id)) continue;
    out.push(`<line x1="${sx(n.parent)}" y1="${sy(n.parent)}" x2="${sx(n.id)}" y2="${sy(n.id)}"/>`);
  }
  out.push('</g>');
  for (const n of h.nodes) {
    if (!visible(n.id)) continue;
    const r = n.id === 0 ? 6 : 2 + 14 * Math.sqrt(n.subtreeSamples / total);
    const fill = n.id === 0 ? 'black' : maj && maj[n.id]! >= 0 ? colorFor(maj[n.id]!) : '#999';
    out.push(`<circle cx="${sx(n.id)}" cy="${sy(n.id)}" r="${r.toFixed(2)}" fill="${fill}" stroke="black" stroke-width="0.5"><title>node ${n.id}${n.proxy >= 0 ? ` (proxy ${n.proxy})` : ' (root)'}: ${n.subtreeSamples} samples, ‖p‖=${n.norm.toFixed(4)}</title></circle>`);
  }
  const shown = h.nodes.filter((n) => n.kind === 'proxy' && visible(n.id)).length;
  out.push(`<text x="10" y="20" font-family="sans-serif" font-size="14" fill="#222">${escapeXml(`${options.title ?? 'learned hierarchy'} — ${shown} of ${h.nodes.length - 1} proxies used, depth ${maxDepth}`)}</text>`);
  out.push('</svg>');
  return { svg: out.join('\n') };
}
