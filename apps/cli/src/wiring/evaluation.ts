/**
 * Evaluation of a model on a dataset's protocol splits with @hier-ts/eval, and the flat metric record the trainer
 * logs (headline split unprefixed, others as `<split>.<metric>`).
 */
import type { EmbeddingModel } from '@hier-ts/engine';
import type { EmbeddedSplit, EvalResult } from '@hier-ts/eval';
import type { ArrowDataset } from '@hier-ts/data';
import type { TrainConfig } from '@hier-ts/trainer';
import { evalPlan, evalSource } from './data.js';

export interface SplitEvaluation {
  split: string;
  result: EvalResult;
  embedded: EmbeddedSplit;
}

export interface EvaluateRunOptions {
  /** Only these splits (default: the protocol's). */
  splits?: string[];
  /** Evaluate the first `limit` rows of each split (quick runs and tests). */
  limit?: number;
  log?: (line: string) => void;
}

/** Ranking the official evaluation uses: Poincaré distance in the ball, cosine for the L2-normalised head. */
export function similarityFor(cfg: Pick<TrainConfig, 'hyp_c'>): { similarity: 'poincare' | 'cosine'; c: number } {
  return cfg.hyp_c > 0 ? { similarity: 'poincare', c: cfg.hyp_c } : { similarity: 'cosine', c: 0.1 };
}

export async function evaluateSplits(
  model: EmbeddingModel,
  ds: ArrowDataset,
  cfg: Pick<TrainConfig, 'model' | 'image_size' | 'resize_size' | 'crop_size' | 'hyp_c' | 'seed'>,
  opts: EvaluateRunOptions = {},
): Promise<SplitEvaluation[]> {
  const { evaluate } = await import('@hier-ts/eval');
  const plan = evalPlan(ds.info.dataset);
  const overrides = similarityFor(cfg);
  const out: SplitEvaluation[] = [];
  if (plan.pair && (!opts.splits || opts.splits.includes(plan.pair.query))) {
    const query = await evalSource(ds, plan.pair.query, cfg, plan.coarseColumn, opts.limit);
    const gallery = await evalSource(ds, plan.pair.gallery, cfg, plan.coarseColumn, opts.limit);
    let embedded: EmbeddedSplit | undefined;
    const result = await evaluate(model, { query, gallery }, plan.protocol, {
      overrides,
      seed: cfg.seed,
      log: opts.log,
      onEmbeddings: (q) => {
        embedded = q;
      },
    });
    out.push({ split: plan.pair.query, result, embedded: embedded! });
  }
  for (const split of opts.splits ?? plan.splits) {
    if (plan.pair && (split === plan.pair.query || split === plan.pair.gallery)) continue;
    const src = await evalSource(ds, split, cfg, plan.coarseColumn, opts.limit);
    let embedded: EmbeddedSplit | undefined;
    const result = await evaluate(model, src, plan.protocol, {
      overrides,
      seed: cfg.seed,
      log: opts.log,
      onEmbeddings: (q) => {
        embedded = q;
      },
    });
    out.push({ split, result, embedded: embedded! });
  }
  return out;
}

/** Flat numbers for logs and best-model selection: the first split unprefixed, the others `<split>.<name>`. */
export function flattenMetrics(evals: SplitEvaluation[]): Record<string, number> {
  const out: Record<string, number> = {};
  evals.forEach((e, i) => {
    const p = i === 0 ? '' : `${e.split}.`;
    for (const [k, v] of Object.entries(e.result.recall)) out[`${p}${k}`] = v;
    if (e.result.mapAtR !== null) out[`${p}MAP@R`] = e.result.mapAtR;
    if (e.result.rPrecision !== null) out[`${p}RP`] = e.result.rPrecision;
    if (e.result.nmi !== null) out[`${p}NMI`] = e.result.nmi;
    for (const [k, v] of Object.entries(e.result.coarseRecall ?? {})) out[`${p}coarse.${k}`] = v;
  });
  return out;
}
