import { HierError } from '@hier-ts/core';
import { SIMILARITIES, type Similarity } from './knn.js';

export type ProtocolName = 'cub' | 'cars' | 'sop' | 'inshop' | 'fmnist' | 'custom';

/** How a dataset is evaluated. Recall is always reported for `ks`; MAP@R etc. need a kNN list of max class size. */
export interface EvalProtocol {
  name: ProtocolName;
  ks: number[];
  /** 'leave-one-out': query = gallery = the test split, self excluded. 'query-gallery': two splits (In-shop). */
  mode: 'leave-one-out' | 'query-gallery';
  similarity: Similarity;
  /** Ball curvature for 'poincare' (hyp_c). */
  c: number;
  /**
   * query-gallery only: also report the official number where gallery position i is masked for query i
   * (spec §6 In-shop SURPRISE). The headline `recall` is always the corrected one.
   */
  officialPositionMask: boolean;
  /** MAP@R, R-Precision, P@1 (needs k = largest class size − 1 neighbours). */
  rankMetrics: boolean;
  /** NMI by k-means: true, false, or 'auto' (skipped with a warning when n·classes·d > 2e10, e.g. SOP). */
  nmi: boolean | 'auto';
  /** K list for coarse-label recall (when the source has coarse labels). */
  coarseKs: number[];
}

const BASE: Omit<EvalProtocol, 'name' | 'ks' | 'mode'> = {
  similarity: 'poincare',
  c: 0.1,
  officialPositionMask: false,
  rankMetrics: true,
  nmi: 'auto',
  coarseKs: [1, 2, 4, 8],
};

/**
 * The dataset protocols of the paper (spec §6). In-shop adds R@40 to the official [1, 10, 20, 30]; FashionMNIST
 * follows the reference run (leave-one-out, [1, 2, 4, 8]; shared/anchors/fmnist-reference.md).
 */
export const PROTOCOLS: Readonly<Record<Exclude<ProtocolName, 'custom'>, EvalProtocol>> = {
  cub: { ...BASE, name: 'cub', ks: [1, 2, 4, 8], mode: 'leave-one-out' },
  cars: { ...BASE, name: 'cars', ks: [1, 2, 4, 8], mode: 'leave-one-out' },
  sop: { ...BASE, name: 'sop', ks: [1, 10, 100, 1000], mode: 'leave-one-out', coarseKs: [1, 10, 100] },
  inshop: { ...BASE, name: 'inshop', ks: [1, 10, 20, 30, 40], mode: 'query-gallery', officialPositionMask: true, coarseKs: [1, 10, 20] },
  fmnist: { ...BASE, name: 'fmnist', ks: [1, 2, 4, 8], mode: 'leave-one-out' },
};

/** A protocol by name with overrides, validated. */
export function protocolFor(name: ProtocolName | EvalProtocol, overrides: Partial<EvalProtocol> = {}): EvalProtocol {
  let base: EvalProtocol;
  if (typeof name === 'string') {
    if (name === 'custom') base = { ...BASE, name: 'custom', ks: [1, 2, 4, 8], mode: 'leave-one-out' };
    else {
      const p = PROTOCOLS[name];
      if (!p) throw new HierError('E_ARG', `unknown evaluation protocol '${name}'; expected one of ${Object.keys(PROTOCOLS).join(', ')}, custom`);
      base = p;
    }
  } else base = name;
  const p: EvalProtocol = { ...base, ...overrides, ks: [...(overrides.ks ?? base.ks)], coarseKs: [...(overrides.coarseKs ?? base.coarseKs)] };
  if (!p.ks.length || p.ks.some((k) => !Number.isInteger(k) || k < 1)) throw new HierError('E_ARG', `protocol ${p.name}: ks must be positive integers, got [${p.ks.join(', ')}]`);
  if (!SIMILARITIES.includes(p.similarity)) throw new HierError('E_ARG', `protocol ${p.name}: unknown similarity '${p.similarity}'`);
  if (p.similarity === 'poincare' && !(p.c > 0)) throw new HierError('E_ARG', `protocol ${p.name}: c must be > 0 for poincare, got ${p.c}`);
  return p;
}
