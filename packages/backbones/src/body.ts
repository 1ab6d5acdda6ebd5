import type { tf } from '@hier-ts/engine';
import type { Mode, Tap } from './layers.js';
import type { ParamStore } from './params.js';

/** A feature extractor ("body" in HIER's HeadSwitch): images NHWC → [B, featureDim]. */
export interface Body {
  readonly name: string;
  readonly featureDim: number;
  /** Parameters and buffers under their PyTorch state_dict names. */
  readonly params: ParamStore;
  /** Tokens before the patches (1 for ViT/DINO, 2 for DeiT distilled, 0 for CNNs). */
  readonly prefixTokens: number;
  /** Whether train-mode BatchNorm updates its running statistics (bodies without train-mode BN ignore it). */
  updateBatchNormStats: boolean;
  forward(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D;
}
