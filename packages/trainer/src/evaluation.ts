/**
 * Adapter from @hier-ts/eval to the loop's `evaluate` callback: runs `evaluate(model, source, protocol)` and
 * flattens the result to numbers ('R@1', 'R@2', …, 'MAP@R', 'RP', 'NMI'), R@1 being the loop's primary metric.
 */
import type { EvalInput, EvalResult, EvaluateOptions, ProtocolName } from '@hier-ts/eval';
import type { EmbeddingModel } from '@hier-ts/engine';
import type { EvalContext } from './train.js';

export function flattenEvalResult(r: EvalResult): Record<string, number> {
  const out: Record<string, number> = { ...r.recall };
  if (r.mapAtR !== null) out['MAP@R'] = r.mapAtR;
  if (r.rPrecision !== null) out.RP = r.rPrecision;
  if (r.nmi !== null) out.NMI = r.nmi;
  for (const [k, v] of Object.entries(r.coarseRecall ?? {})) out[`coarse.${k}`] = v;
  return out;
}

/**
 * `train(cfg, { evaluate: evaluateWith(source, 'CUB') })`. `onResult` receives the full result (e.g. to write
 * embeddings when `ctx.saveEmbeddings`).
 */
export function evaluateWith(
  source: EvalInput | (() => EvalInput),
  protocol: ProtocolName,
  options: EvaluateOptions & { onResult?: (r: EvalResult, ctx: EvalContext) => void | Promise<void> } = {},
): (model: EmbeddingModel, ctx: EvalContext) => Promise<Record<string, number>> {
  return async (model, ctx) => {
    const { evaluate } = await import('@hier-ts/eval');
    const r = await evaluate(model, typeof source === 'function' ? source() : source, protocol, options);
    await options.onResult?.(r, ctx);
    return flattenEvalResult(r);
  };
}
