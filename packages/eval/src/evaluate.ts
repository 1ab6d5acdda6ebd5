import { HierError } from '@hier-ts/core';
import { type Batch, type EmbeddingModel, tf } from '@hier-ts/engine';
import { type KnnResult, knn } from './knn.js';
import { checkLabels, checkMatrix, type Matrix } from './matrix.js';
import { maxRelevant, rankMetrics, recallAtK } from './metrics.js';
import { nmiScore } from './nmi.js';
import { type EvalProtocol, type ProtocolName, protocolFor } from './protocols.js';

/**
 * One evaluation split as the data package provides it: eval-mode batches (no augmentation), every row once, in
 * any order. `Batch.indices` may be split positions or dataset row numbers: rows are sorted by them, and a row's rank
 * in that order is its position in the split (what the official In-shop mask uses). `coarseLabels`, when the
 * dataset has a hierarchy, is indexed by the same `Batch.indices` values.
 */
export interface EvalSource {
  batches(): AsyncIterable<Batch>;
  coarseLabels?: Int32Array;
  name?: string;
}

/** Leave-one-out needs one source; In-shop-style protocols a query and a gallery source. */
export type EvalInput = EvalSource | AsyncIterable<Batch> | { query: EvalSource; gallery: EvalSource };

/** Embeddings of one split, rows in position order. */
export interface EmbeddedSplit {
  embeddings: Matrix;
  labels: Int32Array;
  /** Source index (`Batch.indices`) of each row, ascending; the array position is the row's position in the split. */
  indices: Int32Array;
  coarseLabels?: Int32Array;
}

export interface EvalResult {
  protocol: ProtocolName;
  similarity: EvalProtocol['similarity'];
  c: number;
  mode: EvalProtocol['mode'];
  /** Recall@K as fractions in [0, 1], keyed 'R@K'. For query-gallery protocols this is the corrected number. */
  recall: Record<string, number>;
  /** query-gallery with officialPositionMask: the official masked-by-position numbers (spec §6). */
  recallOfficial?: Record<string, number>;
  mapAtR: number | null;
  rPrecision: number | null;
  precisionAt1: number | null;
  nmi: number | null;
  /** Recall@K on coarse labels (a neighbour of the same coarse class counts), when coarse labels exist. */
  coarseRecall: Record<string, number> | null;
  counts: { queries: number; gallery: number; classes: number; loneQueries: number; dim: number };
  warnings: string[];
  seconds: { embed: number; knn: number; metrics: number };
}

export interface EvaluateOptions {
  /** Overrides applied on top of the named protocol. */
  overrides?: Partial<EvalProtocol>;
  workers?: number | 'auto';
  seed?: number;
  log?: (line: string) => void;
  /** Receives the embedded splits (for export, pictures, the hierarchy) so they need not be computed twice. */
  onEmbeddings?: (query: EmbeddedSplit, gallery: EmbeddedSplit | null) => void | Promise<void>;
}

function isPair(x: EvalInput): x is { query: EvalSource; gallery: EvalSource } {
  return typeof x === 'object' && x !== null && 'query' in x && 'gallery' in x;
}

function asSource(x: EvalSource | AsyncIterable<Batch>): EvalSource {
  if (typeof (x as EvalSource).batches === 'function') return x as EvalSource;
  const it = x as AsyncIterable<Batch>;
  return { batches: () => it };
}

/**
 * Embeds a split with `model.embed(x, 'eval')` batch by batch (each batch's tensors disposed before the next) and
 * orders the rows by `Batch.indices`.
 */
export async function embedSource(model: EmbeddingModel, source: EvalSource | AsyncIterable<Batch>, what = 'source'): Promise<EmbeddedSplit> {
  const src = asSource(source);
  const chunks: { emb: Float32Array; labels: Int32Array; indices: Int32Array }[] = [];
  let total = 0;
  let dim = -1;
  let b = 0;
  for await (const batch of src.batches()) {
    const [n, h, w, ch] = batch.shape;
    if (batch.images.length !== n * h * w * ch) {
      throw new HierError('E_SHAPE', `${what} batch ${b}: images has ${batch.images.length} values but shape is [${batch.shape.join(', ')}]`);
    }
    if (batch.labels.length !== n || batch.indices.length !== n) {
      throw new HierError('E_SHAPE', `${what} batch ${b}: ${n} images but ${batch.labels.length} labels and ${batch.indices.length} indices`);
    }
    const z = tf.tidy(() => model.embed(tf.tensor4d(batch.images, batch.shape), 'eval'));
    let data: Float32Array;
    try {
      if (z.rank !== 2 || z.shape[0] !== n) throw new HierError('E_SHAPE', `${what} batch ${b}: model '${model.name}' returned shape [${z.shape.join(', ')}] for ${n} images`);
      if (dim < 0) dim = z.shape[1];
      data = (await z.data()) as Float32Array;
    } finally {
      z.dispose();
    }
    chunks.push({ emb: data, labels: batch.labels, indices: batch.indices });
    total += n;
    b++;
  }
  if (total === 0) throw new HierError('E_EMPTY', `${what} yielded no rows (0 batches or empty batches)`);
  const order = new Int32Array(total);
  const pos = new Int32Array(total);
  const rowOf: { c: number; r: number }[] = [];
  let o = 0;
  for (let c = 0; c < chunks.length; c++) {
    for (let r = 0; r < chunks[c]!.labels.length; r++) {
      pos[o] = chunks[c]!.indices[r]!;
      order[o] = o;
      rowOf.push({ c, r });
      o++;
    }
  }
  order.sort((a, bb) => pos[a]! - pos[bb]!);
  const emb = new Float32Array(total * dim);
  const labels = new Int32Array(total);
  const indices = new Int32Array(total);
  for (let i = 0; i < total; i++) {
    const src = rowOf[order[i]!]!;
    const ch = chunks[src.c]!;
    emb.set(ch.emb.subarray(src.r * dim, src.r * dim + dim), i * dim);
    labels[i] = ch.labels[src.r]!;
    indices[i] = ch.indices[src.r]!;
    if (i > 0 && indices[i] === indices[i - 1]) throw new HierError('E_DUPLICATE', `${what}: row index ${indices[i]} appears in more than one batch`);
  }
  let coarse: Int32Array | undefined;
  if (src.coarseLabels) {
    coarse = new Int32Array(total);
    for (let i = 0; i < total; i++) {
      const p = indices[i]!;
      if (p < 0 || p >= src.coarseLabels.length) {
        throw new HierError('E_SHAPE', `${what}: row index ${p} has no coarse label (coarseLabels has ${src.coarseLabels.length} entries)`);
      }
      coarse[i] = src.coarseLabels[p]!;
    }
  }
  return { embeddings: { data: emb, rows: total, dim }, labels, indices, ...(coarse ? { coarseLabels: coarse } : {}) };
}

function keyed(r: Record<number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) out[`R@${k}`] = v;
  return out;
}

/** Keeps the first `k` neighbours of each row, after optionally dropping gallery index i from row i. */
function truncate(r: KnnResult, k: number, dropSameIndex: boolean): KnnResult {
  const idx = new Int32Array(r.rows * k).fill(-1);
  const sc = new Float32Array(r.rows * k).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < r.rows; i++) {
    let o = 0;
    for (let j = 0; j < r.k && o < k; j++) {
      const g = r.indices[i * r.k + j]!;
      if (dropSameIndex && g === i) continue;
      idx[i * k + o] = g;
      sc[i * k + o] = r.scores[i * r.k + j]!;
      o++;
    }
  }
  return { ...r, k, indices: idx, scores: sc, excludedSameIndex: r.excludedSameIndex || dropSameIndex };
}

/**
 * All metrics of a protocol from embeddings already in hand (what `evaluate` does after embedding; the trainer can
 * call it directly). `gallery` null = leave-one-out within `query`.
 */
export async function evaluateEmbeddings(
  query: EmbeddedSplit,
  gallery: EmbeddedSplit | null,
  protocolIn: ProtocolName | EvalProtocol,
  options: Omit<EvaluateOptions, 'onEmbeddings'> = {},
): Promise<EvalResult> {
  const protocol = protocolFor(protocolIn, options.overrides);
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.log?.(`warning: ${m}`);
  };
  checkMatrix(query.embeddings, gallery ? 'query embeddings' : 'embeddings');
  checkLabels(query.labels, query.embeddings.rows, gallery ? 'query labels' : 'labels', gallery ? 'query embeddings' : 'embeddings');
  if (gallery) {
    checkMatrix(gallery.embeddings, 'gallery embeddings');
    checkLabels(gallery.labels, gallery.embeddings.rows, 'gallery labels', 'gallery embeddings');
  }
  if (protocol.mode === 'query-gallery' && !gallery) throw new HierError('E_ARG', `protocol ${protocol.name} needs a query and a gallery split`);
  if (protocol.mode === 'leave-one-out' && gallery) throw new HierError('E_ARG', `protocol ${protocol.name} is leave-one-out; pass one split, not a query/gallery pair`);
  const gLabels = gallery ? gallery.labels : query.labels;
  const galleryRows = gallery ? gallery.embeddings.rows : query.embeddings.rows;
  const maxK = Math.max(...protocol.ks, ...(query.coarseLabels ? protocol.coarseKs : []));
  const needR = protocol.rankMetrics ? maxRelevant(query.labels, gallery ? gallery.labels : null) : 0;
  const officialToo = Boolean(gallery) && protocol.officialPositionMask;
  const k = Math.max(maxK, needR, 1) + (officialToo ? 1 : 0);
  const t0 = performance.now();
  const full = await knn(query.embeddings, gallery ? gallery.embeddings : null, {
    k,
    similarity: protocol.similarity,
    c: protocol.c,
    excludeSameIndex: !gallery,
    workers: options.workers ?? 'auto',
    // Every metric below needs only the neighbour order.
    scores: 'ranking-key',
    warn,
  });
  const tKnn = performance.now();
  const clipWarn = (m: string) => warn(m);
  // With the official mask one extra neighbour was requested, so dropping position i still leaves k.
  const baseK = officialToo && full.k === k ? k - 1 : full.k;
  const r = truncate(full, Math.max(1, baseK), false);
  const recall = keyed(recallAtK(r, query.labels, gLabels, protocol.ks, clipWarn));
  let recallOfficial: Record<string, number> | undefined;
  if (officialToo) recallOfficial = keyed(recallAtK(truncate(full, r.k, true), query.labels, gLabels, protocol.ks));
  let mapAtR: number | null = null;
  let rPrecision: number | null = null;
  let precisionAt1: number | null = null;
  let lone = 0;
  if (protocol.rankMetrics) {
    if (needR > r.k) warn(`MAP@R skipped: the largest class needs ${needR} neighbours but the gallery only offers ${r.k}`);
    else {
      const m = rankMetrics(r, query.labels, gLabels);
      mapAtR = m.mapAtR;
      rPrecision = m.rPrecision;
      precisionAt1 = m.precisionAt1;
      lone = m.loneQueries;
      if (lone) warn(`${lone} query/queries have no other item of their class; they count as misses in Recall@K and are left out of MAP@R/R-Precision (PML)`);
    }
  }
  let coarseRecall: Record<string, number> | null = null;
  if (query.coarseLabels && (!gallery || gallery.coarseLabels)) {
    const gc = gallery ? gallery.coarseLabels! : query.coarseLabels;
    coarseRecall = keyed(recallAtK(r, query.coarseLabels, gc, protocol.coarseKs, clipWarn));
  }
  const classes = new Set(Array.from(query.labels)).size;
  let nmi: number | null = null;
  const nmiWork = query.embeddings.rows * classes * query.embeddings.dim;
  if (protocol.nmi === true || (protocol.nmi === 'auto' && nmiWork <= 2e10)) {
    nmi = await nmiScore(query.embeddings, query.labels, { seed: options.seed ?? 0 });
  } else if (protocol.nmi === 'auto') {
    warn(`NMI skipped: k-means with ${classes} clusters on ${query.embeddings.rows}×${query.embeddings.dim} is too costly for 'auto' (set nmi: true to force)`);
  }
  const tEnd = performance.now();
  return {
    protocol: protocol.name,
    similarity: protocol.similarity,
    c: protocol.c,
    mode: protocol.mode,
    recall,
    ...(recallOfficial ? { recallOfficial } : {}),
    mapAtR,
    rPrecision,
    precisionAt1,
    nmi,
    coarseRecall,
    counts: { queries: query.embeddings.rows, gallery: galleryRows, classes, loneQueries: lone, dim: query.embeddings.dim },
    warnings,
    seconds: { embed: 0, knn: (tKnn - t0) / 1000, metrics: (tEnd - tKnn) / 1000 },
  };
}

/**
 * Embeds the source(s) with `model` in eval mode and computes the protocol's metrics: Recall@K (corrected and,
 * for In-shop, official), MAP@R, R-Precision, P@1, NMI and coarse Recall@K. The trainer and `hier eval` call this.
 */
export async function evaluate(
  model: EmbeddingModel,
  source: EvalInput,
  protocol: ProtocolName | EvalProtocol,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const t0 = performance.now();
  let query: EmbeddedSplit;
  let gallery: EmbeddedSplit | null = null;
  if (isPair(source)) {
    query = await embedSource(model, source.query, 'query source');
    gallery = await embedSource(model, source.gallery, 'gallery source');
  } else {
    query = await embedSource(model, source, 'eval source');
  }
  const tEmbed = (performance.now() - t0) / 1000;
  options.log?.(`embedded ${query.embeddings.rows}${gallery ? ` + ${gallery.embeddings.rows}` : ''} rows (dim ${query.embeddings.dim}) in ${tEmbed.toFixed(1)} s`);
  await options.onEmbeddings?.(query, gallery);
  const res = await evaluateEmbeddings(query, gallery, protocol, options);
  res.seconds.embed = tEmbed;
  return res;
}

/** One line per metric, percentages as in the paper's tables. */
export function formatEvalResult(r: EvalResult): string {
  const pct = (v: number) => (100 * v).toFixed(2);
  const parts = [Object.entries(r.recall).map(([k, v]) => `${k} ${pct(v)}`).join('  ')];
  if (r.recallOfficial) parts.push(`official (position-masked): ${Object.entries(r.recallOfficial).map(([k, v]) => `${k} ${pct(v)}`).join('  ')}`);
  const extra: string[] = [];
  if (r.mapAtR !== null) extra.push(`MAP@R ${pct(r.mapAtR)}`);
  if (r.rPrecision !== null) extra.push(`RP ${pct(r.rPrecision)}`);
  if (r.precisionAt1 !== null) extra.push(`P@1 ${pct(r.precisionAt1)}`);
  if (r.nmi !== null) extra.push(`NMI ${pct(r.nmi)}`);
  if (extra.length) parts.push(extra.join('  '));
  if (r.coarseRecall) parts.push(`coarse: ${Object.entries(r.coarseRecall).map(([k, v]) => `${k} ${pct(v)}`).join('  ')}`);
  return `[${r.protocol}, ${r.similarity}${r.similarity === 'poincare' ? ` c=${r.c}` : ''}] ${parts.join(' | ')}`;
}
