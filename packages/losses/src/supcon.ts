/**
 * The official `SupCon` (Hyp-style pairwise cross-entropy between views, spec §3.3). Input [M, IPC, D] (row r =
 * one class, column v = view v) or [B, D] with `ipc` (consecutive rows are the views of one class).
 * For each ordered view pair (i, j), i ≠ j: logits = [S(x_i, x_j)/τ | S(x_i, x_i)/τ − 1e9·I], cross-entropy
 * with target = the row index, mean over rows. The pair losses are summed and divided by IPC² (the official
 * step counter also counts i = j); `officialNormalisation: false` divides by the IPC·(IPC − 1) pairs instead.
 */
import { HierError } from '@hier-ts/core';
import { type MetricLoss, type NamedVariable, tf } from '@hier-ts/engine';
import { hyperbolicSimilarity } from './distances.js';
import { checkFinite, checkPositive } from './validate.js';

export interface SupConConfig {
  tau: number;
  /** Curvature; 0 = sphere mode (dot product of L2-normalised inputs). */
  c: number;
  /** Views per class when the input is [B, D]. */
  ipc: number;
  /** Divide by IPC² like the official code (default true). */
  officialNormalisation: boolean;
}

export const SUPCON_DEFAULTS: SupConConfig = { tau: 0.2, c: 0.1, ipc: 2, officialNormalisation: true };

export function supConLoss(x: tf.Tensor, config: Partial<SupConConfig> = {}): tf.Scalar {
  const cfg = { ...SUPCON_DEFAULTS, ...config };
  checkPositive(cfg.tau, 'tau', 'SupConLoss');
  checkPositive(cfg.c, 'c', 'SupConLoss', true);
  if (x == null || typeof (x as { rank?: unknown }).rank !== 'number') throw new HierError('E_ARG', 'SupConLoss: input must be a tf.Tensor');
  let views: tf.Tensor3D;
  if (x.rank === 3) views = x as tf.Tensor3D;
  else if (x.rank === 2) {
    const [b, d] = x.shape;
    if (!Number.isInteger(cfg.ipc) || cfg.ipc < 2 || b % cfg.ipc !== 0) {
      throw new HierError('E_SHAPE', `SupConLoss: batch ${b} of z [${x.shape.join(', ')}] must be a multiple of ipc = ${cfg.ipc} (>= 2)`);
    }
    views = tf.reshape(x, [b / cfg.ipc, cfg.ipc, d]);
  } else {
    throw new HierError('E_SHAPE', `SupConLoss: input must be [M, IPC, D] or [B, D], got [${x.shape.join(', ')}]`);
  }
  if (x.dtype !== 'float32') throw new HierError('E_DTYPE', `SupConLoss: input must be float32, got ${x.dtype}`);
  checkFinite(x, 'SupConLoss', 'z');
  const [m, ipc] = views.shape;
  if (ipc < 2) throw new HierError('E_SHAPE', `SupConLoss: needs at least 2 views, got [${views.shape.join(', ')}]`);
  const result = tf.tidy(() => {
    const cols = tf.unstack(views, 1) as tf.Tensor2D[];
    const target = tf.eye(m, 2 * m);
    const selfMask = tf.mul(tf.eye(m), 1e9);
    let total: tf.Tensor = tf.scalar(0);
    for (let i = 0; i < ipc; i++) {
      for (let j = 0; j < ipc; j++) {
        if (i === j) continue;
        const cross = tf.div(hyperbolicSimilarity(cols[i], cols[j], cfg.c), cfg.tau);
        const self = tf.sub(tf.div(hyperbolicSimilarity(cols[i], cols[i], cfg.c), cfg.tau), selfMask);
        const logits = tf.concat([cross, self], 1);
        const ce = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, target), 1));
        total = tf.add(total, tf.mean(ce));
      }
    }
    const denom = cfg.officialNormalisation ? ipc * ipc : ipc * (ipc - 1);
    return tf.div(total, denom) as tf.Scalar;
  });
  if (views !== x) views.dispose();
  return result;
}

export class SupConLoss implements MetricLoss {
  readonly name = 'SupCon';
  constructor(private readonly config: Partial<SupConConfig> = {}) {}
  /** z: [B, D] with the IPC views of each class in consecutive rows; labels are not used by this loss. */
  compute(z: tf.Tensor2D, _labels: tf.Tensor1D): tf.Scalar {
    return supConLoss(z, this.config);
  }
  namedVariables(): (NamedVariable & { lrScale: number })[] {
    return [];
  }
  dispose(): void {}
}
