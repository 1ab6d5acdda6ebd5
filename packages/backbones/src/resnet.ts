import { HierError, type Rng } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';
import { batchNorm, conv2d, type Mode, type Tap } from './layers.js';
import { ParamStore } from './params.js';
import type { Body } from './body.js';

export interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  layers: [number, number, number, number];
  inChannels: number;
  /** HIER bn_freeze (default true: the official flag parses to True in every script). */
  bnFreeze: boolean;
}

/**
 * torchvision ResNet (v1.5: the stride sits on the 3×3 conv of a Bottleneck) with the HIER pooling:
 * global average pool + global max pool of layer4, summed. Names match torchvision's state_dict.
 */
export class ResNetBody implements Body {
  readonly params: ParamStore;
  readonly featureDim: number;
  readonly prefixTokens = 0;
  updateBatchNormStats = true;
  private readonly stages: { blocks: { prefix: string; stride: number; down: boolean }[] }[] = [];

  constructor(
    readonly name: string,
    readonly config: ResNetConfig,
    rng: Rng,
  ) {
    const p = new ParamStore(rng, 'backbone');
    this.params = p;
    const expansion = config.block === 'bottleneck' ? 4 : 1;
    p.add('conv1.weight', [64, config.inChannels, 7, 7], 'conv', 'weight');
    this.addBn('bn1', 64);
    let inplanes = 64;
    [64, 128, 256, 512].forEach((planes, si) => {
      const blocks: { prefix: string; stride: number; down: boolean }[] = [];
      for (let bi = 0; bi < config.layers[si]!; bi++) {
        const stride = bi === 0 && si > 0 ? 2 : 1;
        const prefix = `layer${si + 1}.${bi}`;
        const down = bi === 0 && (stride !== 1 || inplanes !== planes * expansion);
        if (config.block === 'bottleneck') {
          p.add(`${prefix}.conv1.weight`, [planes, inplanes, 1, 1], 'conv', 'weight');
          this.addBn(`${prefix}.bn1`, planes);
          p.add(`${prefix}.conv2.weight`, [planes, planes, 3, 3], 'conv', 'weight');
          this.addBn(`${prefix}.bn2`, planes);
          p.add(`${prefix}.conv3.weight`, [planes * 4, planes, 1, 1], 'conv', 'weight');
          this.addBn(`${prefix}.bn3`, planes * 4);
        } else {
          p.add(`${prefix}.conv1.weight`, [planes, inplanes, 3, 3], 'conv', 'weight');
          this.addBn(`${prefix}.bn1`, planes);
          p.add(`${prefix}.conv2.weight`, [planes, planes, 3, 3], 'conv', 'weight');
          this.addBn(`${prefix}.bn2`, planes);
        }
        if (down) {
          p.add(`${prefix}.downsample.0.weight`, [planes * expansion, inplanes, 1, 1], 'conv', 'weight');
          this.addBn(`${prefix}.downsample.1`, planes * expansion);
        }
        inplanes = planes * expansion;
        blocks.push({ prefix, stride, down });
      }
      this.stages.push({ blocks });
    });
    this.featureDim = 512 * expansion;
  }

  private addBn(prefix: string, c: number): void {
    this.params.add(`${prefix}.weight`, [c], 'plain', 'bn_weight');
    this.params.add(`${prefix}.bias`, [c], 'plain', 'bn_bias');
    this.params.add(`${prefix}.running_mean`, [c], 'plain', 'bn_running_mean');
    this.params.add(`${prefix}.running_var`, [c], 'plain', 'bn_running_var');
  }

  forward(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D {
    if (x.shape[3] !== this.config.inChannels) {
      throw new HierError('E_SHAPE', `${this.name}: input has ${x.shape[3]} channels (NHWC [${x.shape.join(', ')}]), expected ${this.config.inChannels}`);
    }
    const p = this.params;
    const bn = { mode, frozen: this.config.bnFreeze, updateStats: this.updateBatchNormStats };
    let h = conv2d(x, p.get('conv1.weight'), 2, 3);
    h = batchNorm(h, p, 'bn1', { ...bn, relu: true });
    tap?.('stem_relu', h, 'nhwc');
    // Symmetric pad 1: out-of-range positions are skipped, i.e. −∞ padding as in PyTorch.
    h = tf.maxPool(h, 3, 2, 1);
    tap?.('maxpool', h, 'nhwc');
    this.stages.forEach((stage, si) => {
      for (const b of stage.blocks) {
        const identity = b.down
          ? batchNorm(conv2d(h, p.get(`${b.prefix}.downsample.0.weight`), b.stride, 0), p, `${b.prefix}.downsample.1`, bn)
          : h;
        // The block's last BN takes the shortcut and the ReLU: relu(bn(conv(y)) + identity), one fused op when frozen.
        const last = { ...bn, relu: true, residual: identity };
        if (this.config.block === 'bottleneck') {
          let y = batchNorm(conv2d(h, p.get(`${b.prefix}.conv1.weight`), 1, 0), p, `${b.prefix}.bn1`, { ...bn, relu: true });
          y = batchNorm(conv2d(y, p.get(`${b.prefix}.conv2.weight`), b.stride, 1), p, `${b.prefix}.bn2`, { ...bn, relu: true });
          h = batchNorm(conv2d(y, p.get(`${b.prefix}.conv3.weight`), 1, 0), p, `${b.prefix}.bn3`, last);
        } else {
          const y = batchNorm(conv2d(h, p.get(`${b.prefix}.conv1.weight`), b.stride, 1), p, `${b.prefix}.bn1`, { ...bn, relu: true });
          h = batchNorm(conv2d(y, p.get(`${b.prefix}.conv2.weight`), 1, 1), p, `${b.prefix}.bn2`, last);
        }
        if (b.prefix.endsWith('.0')) tap?.(b.prefix, h, 'nhwc');
      }
      tap?.(`layer${si + 1}`, h, 'nhwc');
    });
    const gap = tf.mean(h, [1, 2]) as tf.Tensor2D;
    const gmp = tf.max(h, [1, 2]) as tf.Tensor2D;
    tap?.('gap', gap, 'plain');
    tap?.('gmp', gmp, 'plain');
    return tf.add(gap, gmp);
  }
}
