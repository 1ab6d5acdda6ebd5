/**
 * The official `PNCALoss_Angle` (spec §3.4), which is not a textbook Proxy-NCA: with s = cosine(z, proxies),
 * L = (1/B)·Σ_i log(1 + e^{−α(s_{i,y_i} − δ)}) + (1/B)·Σ_i log(1 + Σ_{c≠y_i} e^{α(s_ic + δ)}).
 */
import { tf } from '@hier-ts/engine';
import { cosineSimilarity } from './distances.js';
import { ProxyLossBase, type ProxyLossOptions } from './proxy-anchor.js';
import { oneHotMatrix } from './proxies.js';
import { checkEmbeddings, readLabels } from './validate.js';

export interface PNCAConfig {
  alpha: number;
  margin: number;
}

export function pncaLoss(z: tf.Tensor2D, labels: tf.Tensor1D | ArrayLike<number>, proxies: tf.Tensor2D, config: Partial<PNCAConfig> = {}): tf.Scalar {
  const alpha = config.alpha ?? 32;
  const margin = config.margin ?? 0.1;
  checkEmbeddings(proxies, 'PNCALoss', undefined, 'proxies');
  checkEmbeddings(z, 'PNCALoss', proxies.shape[1]);
  const C = proxies.shape[0];
  const y = readLabels(labels, z.shape[0], 'PNCALoss', C);
  return tf.tidy(() => {
    const cos = cosineSimilarity(z, proxies);
    const pos = oneHotMatrix(y, C);
    const sPos = tf.sum(tf.mul(cos, pos), 1);
    const posTerm = tf.mean(tf.softplus(tf.mul(-alpha, tf.sub(sPos, margin))));
    const negSum = tf.sum(tf.mul(tf.sub(1, pos), tf.exp(tf.mul(alpha, tf.add(cos, margin)))), 1);
    const negTerm = tf.mean(tf.log1p(negSum));
    return tf.add(posTerm, negTerm) as tf.Scalar;
  });
}

export class PNCALoss extends ProxyLossBase {
  readonly name = 'PNCA';
  readonly config: PNCAConfig;
  constructor(options: ProxyLossOptions & Partial<PNCAConfig>) {
    super(options, 'PNCALoss');
    this.config = { alpha: options.alpha ?? 32, margin: options.margin ?? 0.1 };
  }
  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    return pncaLoss(z, labels, this.proxies, this.config);
  }
}
