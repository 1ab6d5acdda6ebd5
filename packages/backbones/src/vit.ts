import { HierError, type Rng } from '@hier-ts/core';
import { mergeHeads, splitHeads, tf } from '@hier-ts/engine';
import type { Body } from './body.js';
import { conv2d, gelu, layerNorm, linear, type Mode, type Tap } from './layers.js';
import { ParamStore } from './params.js';

export interface ViTConfig {
  imageSize: number;
  patchSize: number;
  inChannels: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpHidden: number;
  lnEps: number;
  qkvBias: boolean;
  /** DeiT distilled: a DIST token after CLS. */
  distilled: boolean;
  /**
   * What a distilled model returns. 'timm-0.4.12' (official HIER): CLS in train mode, (CLS + DIST)/2 in eval.
   * 'average': (CLS + DIST)/2 in both modes (newer timm).
   */
  distilledOutput: 'timm-0.4.12' | 'average';
  /** HIER freezes patch_embed for every transformer (requires_grad = False). */
  freezePatchEmbed: boolean;
  /** How a checkpoint's pos_embed is resampled to another grid: timm (target size) or DINO (scale factor + 0.1). */
  posEmbedResize: 'timm' | 'dino';
}

/**
 * timm 0.4.12 VisionTransformer / DistilledVisionTransformer (and DINO's ViT, which has the same names) with the
 * classifier removed. Attention is written with rank-4 transposes only; rank-5 ones are slow on wasm.
 */
export class ViTBody implements Body {
  readonly params: ParamStore;
  readonly featureDim: number;
  readonly prefixTokens: number;
  readonly grid: [number, number];
  updateBatchNormStats = true;

  constructor(
    readonly name: string,
    readonly config: ViTConfig,
    rng: Rng,
  ) {
    const { imageSize, patchSize, embedDim: d } = config;
    if (!Number.isInteger(imageSize) || !Number.isInteger(patchSize) || patchSize <= 0 || imageSize % patchSize !== 0) {
      throw new HierError('E_CONFIG', `${name}: imageSize ${imageSize} is not divisible by patchSize ${patchSize}`);
    }
    if (d % config.numHeads !== 0) throw new HierError('E_CONFIG', `${name}: embedDim ${d} is not divisible by numHeads ${config.numHeads}`);
    const g = imageSize / patchSize;
    this.grid = [g, g];
    this.prefixTokens = config.distilled ? 2 : 1;
    this.featureDim = d;
    const p = new ParamStore(rng, 'backbone');
    this.params = p;
    p.add('cls_token', [1, 1, d], 'plain', 'token');
    if (config.distilled) p.add('dist_token', [1, 1, d], 'plain', 'token');
    p.add('pos_embed', [1, g * g + this.prefixTokens, d], 'plain', 'token');
    const frozen = { trainable: !config.freezePatchEmbed };
    p.add('patch_embed.proj.weight', [d, config.inChannels, patchSize, patchSize], 'conv', 'weight', frozen);
    p.add('patch_embed.proj.bias', [d], 'plain', 'bias', { ...frozen, fanIn: config.inChannels * patchSize * patchSize });
    for (let i = 0; i < config.depth; i++) {
      const b = `blocks.${i}`;
      p.add(`${b}.norm1.weight`, [d], 'plain', 'ln_weight');
      p.add(`${b}.norm1.bias`, [d], 'plain', 'ln_bias');
      p.add(`${b}.attn.qkv.weight`, [3 * d, d], 'linear', 'weight');
      if (config.qkvBias) p.add(`${b}.attn.qkv.bias`, [3 * d], 'plain', 'bias', { fanIn: d });
      p.add(`${b}.attn.proj.weight`, [d, d], 'linear', 'weight');
      p.add(`${b}.attn.proj.bias`, [d], 'plain', 'bias', { fanIn: d });
      p.add(`${b}.norm2.weight`, [d], 'plain', 'ln_weight');
      p.add(`${b}.norm2.bias`, [d], 'plain', 'ln_bias');
      p.add(`${b}.mlp.fc1.weight`, [config.mlpHidden, d], 'linear', 'weight');
      p.add(`${b}.mlp.fc1.bias`, [config.mlpHidden], 'plain', 'bias', { fanIn: d });
      p.add(`${b}.mlp.fc2.weight`, [d, config.mlpHidden], 'linear', 'weight');
      p.add(`${b}.mlp.fc2.bias`, [d], 'plain', 'bias', { fanIn: config.mlpHidden });
    }
    p.add('norm.weight', [d], 'plain', 'ln_weight');
    p.add('norm.bias', [d], 'plain', 'ln_bias');
  }

  forward(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D {
    const { imageSize, embedDim: d, numHeads: h, lnEps: eps, inChannels } = this.config;
    const [bsz, ih, iw, c] = x.shape;
    if (ih !== imageSize || iw !== imageSize || c !== inChannels) {
      throw new HierError('E_SHAPE', `${this.name}: input NHWC [${x.shape.join(', ')}] does not match the model's [B, ${imageSize}, ${imageSize}, ${inChannels}]`);
    }
    const p = this.params;
    const nPatch = this.grid[0] * this.grid[1];
    const patches = tf.reshape(
      conv2d(x, p.get('patch_embed.proj.weight'), this.config.patchSize, 0, p.get('patch_embed.proj.bias')),
      [bsz, nPatch, d],
    );
    tap?.('patch_embed', patches, 'plain');
    const prefix = [tf.tile(p.get('cls_token'), [bsz, 1, 1])];
    if (this.config.distilled) prefix.push(tf.tile(p.get('dist_token'), [bsz, 1, 1]));
    let t: tf.Tensor = tf.add(tf.concat([...prefix, patches], 1), p.get('pos_embed'));
    tap?.('tokens_plus_pos', t, 'plain');
    const dh = d / h;
    const scale = dh ** -0.5;
    for (let i = 0; i < this.config.depth; i++) {
      const b = `blocks.${i}`;
      const bt = i === 0 ? tap : undefined;
      const n1 = layerNorm(t, eps, p.get(`${b}.norm1.weight`), p.get(`${b}.norm1.bias`));
      bt?.(`block${i}.norm1`, n1, 'plain');
      // The fused qkv weight [D, 3D] is (q | k | v) × head × head_dim along its columns. Three products against its
      // column slices give the same numbers as slicing the [B, N, 3D] output, without copying (and, in the backward,
      // zero-padding) that activation three times per block: only the small weight is sliced.
      const wQkv = p.get(`${b}.attn.qkv.weight`);
      const bQkv = this.config.qkvBias ? p.get(`${b}.attn.qkv.bias`) : undefined;
      const qkvParts = [0, 1, 2].map((j) => linear(n1, tf.slice(wQkv, [0, j * d], [d, d]), bQkv && tf.slice(bQkv, [j * d], [d])));
      if (bt) bt(`block${i}.qkv`, tf.concat(qkvParts, -1), 'plain');
      const [q, k, v] = qkvParts.map((x) => splitHeads(x, h)[0]!) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
      bt?.(`block${i}.attn_probs`, probs, 'plain');
      const ctx = mergeHeads(tf.matMul(probs, v) as tf.Tensor4D);
      bt?.(`block${i}.attn_heads_concat`, ctx, 'plain');
      const attnOut = linear(ctx, p.get(`${b}.attn.proj.weight`), p.get(`${b}.attn.proj.bias`));
      bt?.(`block${i}.attn_out`, attnOut, 'plain');
      t = tf.add(t, attnOut);
      bt?.(`block${i}.after_attn_residual`, t, 'plain');
      const n2 = layerNorm(t, eps, p.get(`${b}.norm2.weight`), p.get(`${b}.norm2.bias`));
      const hidden = gelu(linear(n2, p.get(`${b}.mlp.fc1.weight`), p.get(`${b}.mlp.fc1.bias`)));
      bt?.(`block${i}.mlp_hidden_gelu`, hidden, 'plain');
      t = tf.add(t, linear(hidden, p.get(`${b}.mlp.fc2.weight`), p.get(`${b}.mlp.fc2.bias`)));
      if (i === 0 || i === this.config.depth - 1) tap?.(`block${i}`, t, 'plain');
    }
    const normed = layerNorm(t, eps, p.get('norm.weight'), p.get('norm.bias'));
    tap?.('final_norm', normed, 'plain');
    const cls = tf.reshape(tf.slice(normed, [0, 0, 0], [bsz, 1, d]), [bsz, d]) as tf.Tensor2D;
    tap?.('cls_final', cls, 'plain');
    if (!this.config.distilled) return cls;
    const dist = tf.reshape(tf.slice(normed, [0, 1, 0], [bsz, 1, d]), [bsz, d]) as tf.Tensor2D;
    tap?.('dist_final', dist, 'plain');
    if (mode === 'train' && this.config.distilledOutput === 'timm-0.4.12') return cls;
    return tf.div(tf.add(cls, dist), 2);
  }
}

/**
 * Bicubic resampling of a [gh, gw, D] grid (row-major tokens) as torch's F.interpolate(mode='bicubic',
 * align_corners=False): A = −0.75, border-clamped taps. `scale` (output/input) overrides the ratio used to map
 * coordinates, as DINO passes scale_factor instead of a size.
 */
export function resizeGrid(
  src: Float32Array,
  gin: [number, number],
  gout: [number, number],
  dim: number,
  scale?: [number, number],
): Float32Array {
  const A = -0.75;
  const cubic = (t: number): [number, number, number, number] => {
    const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
    const s = 1 - t;
    const w2 = ((A + 2) * s - (A + 3)) * s * s + 1;
    const w3 = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
    return [w0, w1, w2, w3];
  };
  const taps = (inSize: number, outSize: number, sc?: number): { idx: number[]; w: number[] }[] => {
    const ratio = sc ? 1 / sc : inSize / outSize;
    return Array.from({ length: outSize }, (_, o) => {
      const real = ratio * (o + 0.5) - 0.5;
      const f = Math.floor(real);
      const w = cubic(real - f);
      const idx = [f - 1, f, f + 1, f + 2].map((i) => Math.min(Math.max(i, 0), inSize - 1));
      return { idx, w };
    });
  };
  const ty = taps(gin[0], gout[0], scale?.[0]);
  const tx = taps(gin[1], gout[1], scale?.[1]);
  const out = new Float32Array(gout[0] * gout[1] * dim);
  const acc = new Float64Array(dim);
  for (let oy = 0; oy < gout[0]; oy++)
    for (let ox = 0; ox < gout[1]; ox++) {
      acc.fill(0);
      for (let a = 0; a < 4; a++)
        for (let b = 0; b < 4; b++) {
          const wt = ty[oy]!.w[a]! * tx[ox]!.w[b]!;
          const base = (ty[oy]!.idx[a]! * gin[1] + tx[ox]!.idx[b]!) * dim;
          for (let k = 0; k < dim; k++) acc[k] += wt * src[base + k]!;
        }
      out.set(acc, (oy * gout[1] + ox) * dim);
    }
  return out;
}
