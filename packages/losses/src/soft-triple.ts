/**
 * SoftTriple as pytorch-metric-learning defines it (spec §3.5): K centres per class (a [D, C·K] matrix,
 * kaiming-uniform a = √5), s_ck = cosine(z, centre k of class c), S_c = Σ_k softmax_k(s_ck/γ)·s_ck,
 * loss = mean cross-entropy of λ·(S − margin·onehot(y)). No centre regulariser (as officially used).
 */
import { HierError, Rng } from '@hier-ts/core';
import { type MetricLoss, type NamedVariable, tf } from '@hier-ts/engine';
import { l2Normalize } from './distances.js';
import { kaimingUniformSqrt5, oneHotMatrix, trainableVariable } from './proxies.js';
import { checkEmbeddings, checkInt, readLabels } from './validate.js';

export interface SoftTripleConfig {
  centersPerClass: number;
  /** λ (la). */
  la: number;
  gamma: number;
  margin: number;
}

export const SOFT_TRIPLE_DEFAULTS: SoftTripleConfig = { centersPerClass: 10, la: 20, gamma: 0.1, margin: 0.01 };

export function softTripleLoss(z: tf.Tensor2D, labels: tf.Tensor1D | ArrayLike<number>, centers: tf.Tensor2D, numClasses: number, config: Partial<SoftTripleConfig> = {}): tf.Scalar {
  const cfg = { ...SOFT_TRIPLE_DEFAULTS, ...config };
  checkEmbeddings(z, 'SoftTripleLoss', centers.shape[0]);
  if (centers.shape[1] !== numClasses * cfg.centersPerClass) {
    throw new HierError('E_SHAPE', `SoftTripleLoss: centres [${centers.shape.join(', ')}] must be [D, ${numClasses}·${cfg.centersPerClass}]`);
  }
  const y = readLabels(labels, z.shape[0], 'SoftTripleLoss', numClasses);
  return tf.tidy(() => {
    const zn = l2Normalize(z);
    const cn = tf.div(centers, tf.maximum(tf.sqrt(tf.sum(tf.square(centers), 0, true)), 1e-12));
    const sim = tf.reshape(tf.matMul(zn, cn), [z.shape[0], numClasses, cfg.centersPerClass]);
    const prob = tf.softmax(tf.div(sim, cfg.gamma), -1);
    const simToClass = tf.sum(tf.mul(prob, sim), 2);
    const onehot = oneHotMatrix(y, numClasses);
    const logits = tf.mul(cfg.la, tf.sub(simToClass, tf.mul(cfg.margin, onehot)));
    const ce = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, onehot), 1));
    return tf.mean(ce) as tf.Scalar;
  });
}

export class SoftTripleLoss implements MetricLoss {
  readonly name = 'SoftTriple';
  readonly centers: tf.Variable<tf.Rank.R2>;
  readonly config: SoftTripleConfig;
  private readonly lrScale: number;
  private readonly numClasses: number;

  constructor(options: { numClasses: number; dim: number; rng?: Rng; lrScale?: number } & Partial<SoftTripleConfig>) {
    checkInt(options.numClasses, 'numClasses', 'SoftTripleLoss');
    checkInt(options.dim, 'dim', 'SoftTripleLoss');
    this.config = {
      centersPerClass: options.centersPerClass ?? SOFT_TRIPLE_DEFAULTS.centersPerClass,
      la: options.la ?? SOFT_TRIPLE_DEFAULTS.la,
      gamma: options.gamma ?? SOFT_TRIPLE_DEFAULTS.gamma,
      margin: options.margin ?? SOFT_TRIPLE_DEFAULTS.margin,
    };
    checkInt(this.config.centersPerClass, 'centersPerClass', 'SoftTripleLoss');
    this.numClasses = options.numClasses;
    this.lrScale = options.lrScale ?? 1e4;
    const width = options.numClasses * this.config.centersPerClass;
    this.centers = trainableVariable(kaimingUniformSqrt5(options.dim, width, width, options.rng ?? new Rng(0)), 'SoftTriple.centers');
  }
  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return softTripleLoss(z, labels, this.centers, this.numClasses, this.config);
  }
  namedVariables(): (NamedVariable & { lrScale: number })[] {
    return [{ name: 'SoftTriple.centers', variable: this.centers, lrScale: this.lrScale }];
  }
  dispose(): void {
    this.centers.dispose();
  }
}
