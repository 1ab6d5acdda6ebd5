import { HierError } from '@hier-ts/core';
import type { Labels } from './metrics.js';
import { checkMatrix, type Matrix } from './matrix.js';
import { knn } from './knn.js';
import { distToOrigin, poincareDistance } from './poincare.js';

/**
 * The learned hierarchy, read off the hierarchical proxies ("lcas") of a trained HIER loss.
 *
 * Method: norm as depth, nearest shallower node as parent. HIER's loss pulls the LCA proxy of a pair towards the
 * origin relative to the pair (a common ancestor must be closer to the root than its descendants), so the distance
 * from the origin is the learned depth. Each proxy's parent is the hyperbolically nearest node that is strictly
 * closer to the origin, the origin itself (the root) included as a candidate. Samples hang off their nearest proxy.
 * Chosen over hyperbolic agglomerative clustering because it uses the proxies' own geometry (the thing HIER learns)
 * instead of re-clustering the samples, is deterministic, O(P² + n·P), and needs no linkage or cut threshold.
 */
export interface HierarchyNode {
  id: number;
  kind: 'root' | 'proxy';
  /** Row of the proxy matrix (−1 for the root). */
  proxy: number;
  parent: number;
  children: number[];
  /** Tree depth (root 0). */
  depth: number;
  /** Ball norm ‖p‖ and hyperbolic distance from the origin. */
  norm: number;
  originDistance: number;
  /** Samples attached directly / in the whole subtree. */
  samples: number;
  subtreeSamples: number;
}

export interface LearnedHierarchy {
  method: 'norm-depth-nearest-shallower-parent';
  c: number;
  /** nodes[0] is the root; node id = index. */
  nodes: HierarchyNode[];
  /** Node id each sample is attached to. */
  sampleNode: Int32Array;
}

export async function buildHierarchy(proxies: Matrix, samples: Matrix, options: { c?: number; workers?: number | 'auto' } = {}): Promise<LearnedHierarchy> {
  const c = options.c ?? 0.1;
  if (!(c > 0)) throw new HierError('E_ARG', `buildHierarchy: c must be > 0, got ${c}`);
  checkMatrix(proxies, 'hierarchy proxies');
  checkMatrix(samples, 'hierarchy samples');
  if (proxies.dim !== samples.dim) throw new HierError('E_SHAPE', `buildHierarchy: proxies have dim ${proxies.dim}, samples ${samples.dim}`);
  const P = proxies.rows;
  const d = proxies.dim;
  const norms = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += proxies.data[p * d + j]! ** 2;
    norms[p] = Math.sqrt(s);
    if (!(c * s < 1)) throw new HierError('E_BALL', `buildHierarchy: proxy ${p} has norm ${norms[p]!.toFixed(4)}, outside the ball of c=${c}`);
  }
  const nodes: HierarchyNode[] = [
    { id: 0, kind: 'root', proxy: -1, parent: -1, children: [], depth: 0, norm: 0, originDistance: 0, samples: 0, subtreeSamples: 0 },
  ];
  for (let p = 0; p < P; p++) {
    nodes.push({
      id: p + 1,
      kind: 'proxy',
      proxy: p,
      parent: 0,
      children: [],
      depth: 0,
      norm: norms[p]!,
      originDistance: distToOrigin(norms[p]!, c),
      samples: 0,
      subtreeSamples: 0,
    });
  }
  // Shallow first, ties by row, so a parent is always settled before its children.
  const order = Array.from({ length: P }, (_, p) => p).sort((a, b) => norms[a]! - norms[b]! || a - b);
  for (let oi = 0; oi < P; oi++) {
    const p = order[oi]!;
    let best = 0;
    let bestD = nodes[p + 1]!.originDistance;
    for (let oj = 0; oj < oi; oj++) {
      const q = order[oj]!;
      if (!(norms[q]! < norms[p]!)) continue;
      const dq = poincareDistance(proxies.data, p * d, proxies.data, q * d, d, c);
      if (dq < bestD) {
        bestD = dq;
        best = q + 1;
      }
    }
    nodes[p + 1]!.parent = best;
    nodes[best]!.children.push(p + 1);
  }
  const setDepth = (id: number, depth: number) => {
    const stack = [[id, depth]];
    while (stack.length) {
      const [n, dd] = stack.pop()!;
      nodes[n!]!.depth = dd!;
      for (const ch of nodes[n!]!.children) stack.push([ch, dd! + 1]);
    }
  };
  setDepth(0, 0);
  // Nearest proxy of every sample: a kNN with k = 1 (blocked matmul, the same closed-form distance as above).
  const nn = await knn(samples, proxies, { k: 1, similarity: 'poincare', c, workers: options.workers ?? 'auto' });
  const sampleNode = new Int32Array(samples.rows);
  for (let i = 0; i < samples.rows; i++) {
    const best = nn.indices[i]! + 1;
    sampleNode[i] = best;
    nodes[best]!.samples++;
  }
  for (const n of postOrder(nodes)) {
    nodes[n]!.subtreeSamples = nodes[n]!.samples + nodes[n]!.children.reduce((s, ch) => s + nodes[ch]!.subtreeSamples, 0);
  }
  return { method: 'norm-depth-nearest-shallower-parent', c, nodes, sampleNode };
}

/** Node ids with every child before its parent. */
export function postOrder(nodes: HierarchyNode[]): number[] {
  const out: number[] = [];
  const stack: [number, boolean][] = [[0, false]];
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) {
      out.push(n);
      continue;
    }
    stack.push([n, true]);
    for (let i = nodes[n]!.children.length - 1; i >= 0; i--) stack.push([nodes[n]!.children[i]!, false]);
  }
  return out;
}

function histograms(h: LearnedHierarchy, labels: Labels): Map<number, number>[] {
  const hist = h.nodes.map(() => new Map<number, number>());
  for (let i = 0; i < labels.length; i++) {
    const m = hist[h.sampleNode[i]!]!;
    m.set(labels[i]!, (m.get(labels[i]!) ?? 0) + 1);
  }
  for (const n of postOrder(h.nodes)) {
    const p = h.nodes[n]!.parent;
    if (p < 0) continue;
    for (const [k, v] of hist[n]!) hist[p]!.set(k, (hist[p]!.get(k) ?? 0) + v);
  }
  return hist;
}

/**
 * Dendrogram purity (Heller & Ghahramani 2005) of the tree whose leaves are the samples: the mean, over all pairs
 * of samples sharing a label, of the fraction of samples under their lowest common ancestor that share that label.
 * 1 = every class is a pure subtree. `flatBaseline` is the value of the trivial tree (all samples under the root),
 * the number to beat.
 */
export function dendrogramPurity(h: LearnedHierarchy, labels: Labels): { purity: number; flatBaseline: number; pairs: number } {
  if (labels.length !== h.sampleNode.length) {
    throw new HierError('E_SHAPE', `dendrogramPurity: ${labels.length} labels for ${h.sampleNode.length} samples in the hierarchy`);
  }
  const hist = histograms(h, labels);
  const direct = h.nodes.map(() => new Map<number, number>());
  for (let i = 0; i < labels.length; i++) {
    const m = direct[h.sampleNode[i]!]!;
    m.set(labels[i]!, (m.get(labels[i]!) ?? 0) + 1);
  }
  let sum = 0;
  for (const node of h.nodes) {
    const total = node.subtreeSamples;
    if (total < 2) continue;
    for (const [k, nk] of hist[node.id]!) {
      let inside = direct[node.id]!.get(k) ?? 0; // each direct sample is its own leaf child: n_k(leaf)² = 1
      for (const ch of node.children) inside += (hist[ch]!.get(k) ?? 0) ** 2;
      const pairsHere = (nk * nk - inside) / 2;
      if (pairsHere > 0) sum += pairsHere * (nk / total);
    }
  }
  const root = hist[0]!;
  let pairs = 0;
  let flat = 0;
  const n = labels.length;
  for (const nk of root.values()) {
    const p = (nk * (nk - 1)) / 2;
    pairs += p;
    flat += p * (nk / n);
  }
  return { purity: pairs ? sum / pairs : 1, flatBaseline: pairs ? flat / pairs : 1, pairs };
}

export interface HierarchyJson {
  method: LearnedHierarchy['method'];
  c: number;
  nodes: (Omit<HierarchyNode, 'children'> & { children: number[]; majority?: { label: number; share: number }; majorityCoarse?: { label: number; share: number } })[];
  samples: { node: number; label?: number; coarse?: number }[];
  scores?: { fine?: ReturnType<typeof dendrogramPurity>; coarse?: ReturnType<typeof dendrogramPurity> };
}

function majority(m: Map<number, number>): { label: number; share: number } | undefined {
  let best: number | undefined;
  let bc = 0;
  let tot = 0;
  for (const [k, v] of m) {
    tot += v;
    if (v > bc || (v === bc && best !== undefined && k < best)) {
      bc = v;
      best = k;
    }
  }
  return best === undefined ? undefined : { label: best, share: bc / tot };
}

/** A JSON-ready description: nodes with majority (coarse) labels, sample attachments and purity scores. */
export function hierarchyToJson(h: LearnedHierarchy, labels?: Labels, coarseLabels?: Labels): HierarchyJson {
  const hf = labels ? histograms(h, labels) : null;
  const hc = coarseLabels ? histograms(h, coarseLabels) : null;
  return {
    method: h.method,
    c: h.c,
    nodes: h.nodes.map((n) => ({
      ...n,
      children: [...n.children],
      ...(hf && majority(hf[n.id]!) ? { majority: majority(hf[n.id]!)! } : {}),
      ...(hc && majority(hc[n.id]!) ? { majorityCoarse: majority(hc[n.id]!)! } : {}),
    })),
    samples: Array.from(h.sampleNode, (node, i) => ({
      node,
      ...(labels ? { label: labels[i]! } : {}),
      ...(coarseLabels ? { coarse: coarseLabels[i]! } : {}),
    })),
    scores: {
      ...(labels ? { fine: dendrogramPurity(h, labels) } : {}),
      ...(coarseLabels ? { coarse: dendrogramPurity(h, coarseLabels) } : {}),
    },
  };
}

/** Majority label per node (−1 when the subtree is empty), for colouring pictures. */
export function nodeMajority(h: LearnedHierarchy, labels: Labels): Int32Array {
  const hist = histograms(h, labels);
  return Int32Array.from(h.nodes, (n) => majority(hist[n.id]!)?.label ?? -1);
}
