import { HierError, type Rng } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';
import type { Body } from './body.js';
import { batchNorm, conv2d, type Mode, type Tap } from './layers.js';
import { ParamStore } from './params.js';

export interface Cnn4Config {
  inChannels: number;
  /** Keep BN in eval mode while training (default false: the Fashion-MNIST reference trains BN). */
  bnFreeze: boolean;
}

const WIDTHS = [32, 64, 128, 256] as const;

/**
 * The small CNN of the Fashion-MNIST reference run: four conv3×3 (no bias) → BN → ReLU stages, 2×2 max-pool after
 * the first three, global average pool. 388,320 body parameters; PyTorch default inits.
 */
export class Cnn4Body implements Body {
  readonly params: ParamStore;
  readonly featureDim = 256;
  readonly prefixTokens = 0;
  updateBatchNormStats = true;

  constructor(
    readonly name: string,
    readonly config: Cnn4Config,
    rng: Rng,
  ) {
    const p = new ParamStore(rng, 'backbone');
    this.params = p;
    let cin = config.inChannels;
    WIDTHS.forEach((w, i) => {
      p.add(`conv${i + 1}.weight`, [w, cin, 3, 3], 'conv', 'weight');
      p.add(`bn${i + 1}.weight`, [w], 'plain', 'bn_weight');
      p.add(`bn${i + 1}.bias`, [w], 'plain', 'bn_bias');
      p.add(`bn${i + 1}.running_mean`, [w], 'plain', 'bn_running_mean');
      p.add(`bn${i + 1}.running_var`, [w], 'plain', 'bn_running_var');
      cin = w;
    });
  }

  forward(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D {
    if (x.shape[3] !== this.config.inChannels) {
      throw new HierError('E_SHAPE', `${this.name}: input has ${x.shape[3]} channels (NHWC [${x.shape.join(', ')}]), expected ${this.config.inChannels}`);
    }
    if (x.shape[1] < 8 || x.shape[2] < 8) {
      throw new HierError('E_SHAPE', `${this.name}: input ${x.shape[1]}×${x.shape[2]} is too small for three 2×2 poolings (need ≥ 8 px)`);
    }
    let h = x;
    for (let i = 0; i < WIDTHS.length; i++) {
      h = conv2d(h, this.params.get(`conv${i + 1}.weight`), 1, 1);
      h = batchNorm(h, this.params, `bn${i + 1}`, { mode, frozen: this.config.bnFreeze, updateStats: this.updateBatchNormStats, relu: true });
      if (i < 3) h = tf.maxPool(h, 2, 2, 'valid');
      tap?.(`stage${i + 1}`, h, 'nhwc');
    }
    return tf.mean(h, [1, 2]) as tf.Tensor2D;
  }
}
