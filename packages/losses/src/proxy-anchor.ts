/** Proxy-Anchor on cosine similarity (official `PALoss_Angle`, spec §3.1). */
import { HierError, Rng } from '@hier-ts/core';
import { type MetricLoss, type NamedVariable, tf } from '@hier-ts/engine';
import { cosineSimilarity } from './distances.js';
import { kaimingNormalFanOut, oneHotMatrix, trainableVariable } from './proxies.js';
import { checkEmbeddings, checkInt, checkPositive, readLabels } from './validate.js';

export interface ProxyAnchorConfig {
  /** α (32). */
  alpha: number;
  /** δ (0.1; not tied to HIER's --mrg). */
  margin: number;
}

export const PROXY_ANCHOR_DEFAULTS: ProxyAnchorConfig = { alpha: 32, margin: 0.1 };

/**
 * L = (1/|P⁺|)·Σ_{c∈P⁺} log(1 + Σ_{y_i=c} e^{−α(s_ic − δ)}) + (1/C)·Σ_c log(1 + Σ_{y_i≠c} e^{α(s_ic + δ)}),
 * s = cosine(z, proxies). |P⁺| = classes present in the batch.
 */
export function proxyAnchorLoss(
  z: tf.Tensor2D,
  labels: tf.Tensor1D | ArrayLike<number>,
  proxies: tf.Tensor2D,
  config: Partial<ProxyAnchorConfig> = {},
): tf.Scalar {
  const { alpha, margin } = { ...PROXY_ANCHOR_DEFAULTS, ...config };
  checkEmbeddings(proxies, 'ProxyAnchorLoss', undefined, 'proxies');
  checkEmbeddings(z, 'ProxyAnchorLoss', proxies.shape[1]);
  const C = proxies.shape[0];
  const y = readLabels(labels, z.shape[0], 'ProxyAnchorLoss', C);
  const present = new Set(y).size;
  return tf.tidy(() => {
    const cos = cosineSimilarity(z, proxies);
    const pos = oneHotMatrix(y, C);
    const neg = tf.sub(1, pos);
    const posExp = tf.exp(tf.mul(-alpha, tf.sub(cos, margin)));
    const negExp = tf.exp(tf.mul(alpha, tf.add(cos, margin)));
    const posSum = tf.sum(tf.mul(pos, posExp), 0);
    const negSum = tf.sum(tf.mul(neg, negExp), 0);
    const posTerm = tf.div(tf.sum(tf.log1p(posSum)), present);
    const negTerm = tf.div(tf.sum(tf.log1p(negSum)), C);
    return tf.add(posTerm, negTerm) as tf.Scalar;
  });
}

export interface ProxyLossOptions {
  numClasses: number;
  dim: number;
  rng?: Rng;
  /** Learning-rate multiplier reported for the proxies (official: 1e4). */
  lrScale?: number;
  name?: string;
}

/** Shared base for losses that own a [C, D] proxy variable (Kaiming-normal fan_out init). */
export abstract class ProxyLossBase implements MetricLoss {
  abstract readonly name: string;
  readonly proxies: tf.Variable<tf.Rank.R2>;
  protected readonly lrScale: number;
  protected readonly varName: string;

  constructor(options: ProxyLossOptions, lossName: string) {
    if (options == null) throw new HierError('E_ARG', `${lossName}: options {numClasses, dim} are required`);
    checkInt(options.numClasses, 'numClasses', lossName);
    checkInt(options.dim, 'dim', lossName);
    if (options.lrScale !== undefined) checkPositive(options.lrScale, 'lrScale', lossName);
    this.lrScale = options.lrScale ?? 1e4;
    this.varName = `${options.name ?? lossName}.proxies`;
    const rng = options.rng ?? new Rng(0);
    this.proxies = trainableVariable(kaimingNormalFanOut(options.numClasses, options.dim, rng), this.varName);
  }

  abstract compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar;

  namedVariables(): (NamedVariable & { lrScale: number })[] {
    return [{ name: this.varName, variable: this.proxies, lrScale: this.lrScale }];
  }

  dispose(): void {
    this.proxies.dispose();
  }
}

export class ProxyAnchorLoss extends ProxyLossBase {
  readonly name = 'PA';
  readonly config: ProxyAnchorConfig;

  constructor(options: ProxyLossOptions & Partial<ProxyAnchorConfig>) {
    super(options, 'ProxyAnchorLoss');
    this.config = {
      alpha: options.alpha ?? PROXY_ANCHOR_DEFAULTS.alpha,
      margin: options.margin ?? PROXY_ANCHOR_DEFAULTS.margin,
    };
  }

  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return proxyAnchorLoss(z, labels, this.proxies, this.config);
  }
}
