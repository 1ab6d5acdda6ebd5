/**
 * Multi-Similarity losses (spec §3.2 and §3.6), without pair mining, as the official code uses them:
 * per anchor (1/α)·log(1 + Σ_pos e^{−α(S − b)}) + (1/β)·log(1 + Σ_neg e^{β(S − b)}), mean over all anchors
 * (anchors without positives contribute only their negative part). Positives: same label, self excluded.
 */
import { HierError } from '@hier-ts/core';
import { type MetricLoss, type NamedVariable, tf } from '@hier-ts/engine';
import { cosineSimilarity, hyperbolicSimilarity } from './distances.js';
import { sameLabelMatrix } from './proxies.js';
import { checkEmbeddings, checkPositive, readLabels } from './validate.js';

function msFromSimilarity(sim: tf.Tensor2D, y: Int32Array, alpha: number, beta: number, base: tf.Tensor | number): tf.Scalar {
  return tf.tidy(() => {
    const n = y.length;
    const same = sameLabelMatrix(y);
    const pos = tf.sub(same, tf.eye(n));
    const neg = tf.sub(1, same);
    const centred = tf.sub(sim, base);
    const posSum = tf.sum(tf.mul(pos, tf.exp(tf.mul(-alpha, centred))), 1);
    const negSum = tf.sum(tf.mul(neg, tf.exp(tf.mul(beta, centred))), 1);
    const perAnchor = tf.add(tf.div(tf.log1p(posSum), alpha), tf.div(tf.log1p(negSum), beta));
    return tf.mean(perAnchor) as tf.Scalar;
  });
}

export interface MultiSimilarityConfig {
  alpha: number;
  beta: number;
  base: number;
}

export const MULTI_SIMILARITY_DEFAULTS: MultiSimilarityConfig = { alpha: 2, beta: 50, base: 0.5 };

/** `MSLoss_Angle`: cosine similarity, base 0.5, α 2, β 50 (= PML MultiSimilarityLoss without a miner). */
export function multiSimilarityLoss(z: tf.Tensor2D, labels: tf.Tensor1D | ArrayLike<number>, config: Partial<MultiSimilarityConfig> = {}): tf.Scalar {
  const { alpha, beta, base } = { ...MULTI_SIMILARITY_DEFAULTS, ...config };
  checkPositive(alpha, 'alpha', 'MultiSimilarityLoss');
  checkPositive(beta, 'beta', 'MultiSimilarityLoss');
  checkEmbeddings(z, 'MultiSimilarityLoss');
  const y = readLabels(labels, z.shape[0], 'MultiSimilarityLoss');
  return tf.tidy(() => msFromSimilarity(cosineSimilarity(z, z), y, alpha, beta, base));
}

export interface HyperbolicMSConfig {
  alpha: number;
  beta: number;
  /** Curvature; 0 selects the dot product (sphere mode, inputs expected L2-normalised). */
  c: number;
}

export const HYPERBOLIC_MS_DEFAULTS: HyperbolicMSConfig = { alpha: 1, beta: 5, c: 0.1 };

/**
 * The official `MSLoss` (hyperbolic variant): similarity −distMatrix (or the dot product when c = 0), centred by
 * the mean of the off-diagonal similarities. That mean is *not* detached, so it carries gradient, as officially.
 */
export function hyperbolicMSLoss(z: tf.Tensor2D, labels: tf.Tensor1D | ArrayLike<number>, config: Partial<HyperbolicMSConfig> = {}): tf.Scalar {
  const { alpha, beta, c } = { ...HYPERBOLIC_MS_DEFAULTS, ...config };
  checkPositive(alpha, 'alpha', 'HyperbolicMSLoss');
  checkPositive(beta, 'beta', 'HyperbolicMSLoss');
  checkPositive(c, 'c', 'HyperbolicMSLoss', true);
  checkEmbeddings(z, 'HyperbolicMSLoss');
  const n = z.shape[0];
  if (n < 2) throw new HierError('E_SHAPE', `HyperbolicMSLoss: needs at least 2 rows to centre similarities, got z [${z.shape.join(', ')}]`);
  const y = readLabels(labels, n, 'HyperbolicMSLoss');
  return tf.tidy(() => {
    const sim = hyperbolicSimilarity(z, z, c);
    const offDiag = tf.sub(1, tf.eye(n));
    const mu = tf.div(tf.sum(tf.mul(sim, offDiag)), n * (n - 1));
    return msFromSimilarity(sim, y, alpha, beta, mu);
  });
}

/** MetricLoss wrapper for the parameter-free MS losses. */
export class MultiSimilarityLoss implements MetricLoss {
  readonly name: string;
  constructor(
    private readonly variant: 'angle' | 'hyperbolic' = 'angle',
    private readonly config: Partial<MultiSimilarityConfig & HyperbolicMSConfig> = {},
  ) {
    this.name = variant === 'angle' ? 'MS' : 'MSHyp';
  }
  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return this.variant === 'angle' ? multiSimilarityLoss(z, labels, this.config) : hyperbolicMSLoss(z, labels, this.config);
  }
  namedVariables(): (NamedVariable & { lrScale: number })[] {
    return [];
  }
  dispose(): void {}
}
