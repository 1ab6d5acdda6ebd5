/** Loss construction by name, as the trainer's config names them. */
import { HierError, type Rng } from '@hier-ts/core';
import type { MetricLoss } from '@hier-ts/engine';
import type { GumbelSpec } from './gumbel.js';
import { HIERLoss, type HierLossOptions } from './hier.js';
import { MultiSimilarityLoss } from './multi-similarity.js';
import { PNCALoss } from './pnca.js';
import { ProxyAnchorLoss } from './proxy-anchor.js';
import { SoftTripleLoss } from './soft-triple.js';
import { SupConLoss } from './supcon.js';

export const METRIC_LOSS_NAMES = ['PA', 'MS', 'MSHyp', 'SupCon', 'PNCA', 'SoftTriple'] as const;
export type MetricLossName = (typeof METRIC_LOSS_NAMES)[number];

export interface MetricLossOptions {
  /** Training classes (PA, PNCA, SoftTriple). */
  numClasses?: number;
  /** Embedding width (PA, PNCA, SoftTriple). */
  dim?: number;
  rng?: Rng;
  /** Curvature for MSHyp / SupCon (0 = sphere mode). */
  c?: number;
  /** SupCon: views per class in consecutive rows. */
  ipc?: number;
  tau?: number;
  alpha?: number;
  beta?: number;
  margin?: number;
  lrScale?: number;
}

function needClasses(name: string, o: MetricLossOptions): { numClasses: number; dim: number } {
  if (o.numClasses === undefined || o.dim === undefined) {
    throw new HierError('E_ARG', `createMetricLoss('${name}'): options numClasses and dim are required, got numClasses=${o.numClasses}, dim=${o.dim}`);
  }
  return { numClasses: o.numClasses, dim: o.dim };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createMetricLoss(name: MetricLossName, options: MetricLossOptions = {}): MetricLoss {
  switch (name) {
    case 'PA':
      return new ProxyAnchorLoss({ ...needClasses(name, options), ...defined({ rng: options.rng, alpha: options.alpha, margin: options.margin, lrScale: options.lrScale }) });
    case 'PNCA':
      return new PNCALoss({ ...needClasses(name, options), ...defined({ rng: options.rng, alpha: options.alpha, margin: options.margin, lrScale: options.lrScale }) });
    case 'SoftTriple':
      return new SoftTripleLoss({ ...needClasses(name, options), ...defined({ rng: options.rng, margin: options.margin, lrScale: options.lrScale }) });
    case 'MS':
      return new MultiSimilarityLoss('angle', defined({ alpha: options.alpha, beta: options.beta }));
    case 'MSHyp':
      return new MultiSimilarityLoss('hyperbolic', defined({ alpha: options.alpha, beta: options.beta, c: options.c }));
    case 'SupCon':
      return new SupConLoss(defined({ tau: options.tau, c: options.c, ipc: options.ipc }));
    default:
      throw new HierError('E_ARG', `createMetricLoss: unknown loss '${String(name)}'; expected one of ${METRIC_LOSS_NAMES.join(', ')}`);
  }
}

export function createHierLoss(options: HierLossOptions & { gumbel?: GumbelSpec }): HIERLoss {
  return new HIERLoss(options);
}
