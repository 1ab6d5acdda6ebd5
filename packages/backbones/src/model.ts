import { HierError } from '@hier-ts/core';
import { type EmbeddingModel, type NamedVariable, type ParamGroup, tf } from '@hier-ts/engine';
import type { Body } from './body.js';
import type { HierHead } from './head.js';
import type { Mode, Tap } from './layers.js';

/** Prefixes of our checkpoint names, as HIER's HeadSwitch names them (`body.*`, `last_layer.1.*`). */
export const BODY_PREFIX = 'body.';
export const HEAD_PREFIX = 'last_layer.1.';

/** HIER's HeadSwitch: body → head. Implements the engine's EmbeddingModel. */
export class HierModel implements EmbeddingModel {
  readonly embeddingDim: number;
  private disposed = false;

  constructor(
    readonly name: string,
    readonly body: Body,
    readonly head: HierHead,
    /** Input image side in pixels. */
    readonly imageSize: number,
    readonly inChannels: number,
  ) {
    this.embeddingDim = head.config.emb;
  }

  private check(x: tf.Tensor4D, fn: string): void {
    if (this.disposed) throw new HierError('E_MODEL', `${this.name}.${fn}: the model was disposed`);
    if (x.rank !== 4) throw new HierError('E_SHAPE', `${this.name}.${fn}: expected NHWC rank-4 images, got shape [${x.shape.join(', ')}]`);
  }

  /** Body output [B, featureDim] (no head). */
  features(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D {
    this.check(x, 'features');
    return tf.tidy(() => this.body.forward(x, mode, tap));
  }

  embed(x: tf.Tensor4D, mode: Mode, tap?: Tap): tf.Tensor2D {
    this.check(x, 'embed');
    return tf.tidy(() => {
      const f = this.body.forward(x, mode, tap);
      tap?.('features', f, 'plain');
      return this.head.forward(f, tap);
    });
  }

  /**
   * Turns the running-statistics update of train-mode BatchNorm (cnn4, or ResNet with bnFreeze false) off or on,
   * e.g. for a trainer's extra no-tape forward that should not count as a second update of the same step.
   */
  setBatchNormStatsUpdate(enabled: boolean): void {
    this.body.updateBatchNormStats = enabled;
  }

  namedVariables(): (NamedVariable & { group: ParamGroup })[] {
    return [
      ...this.body.params.trainable().map((v) => ({ ...v, name: BODY_PREFIX + v.name })),
      ...this.head.params.trainable().map((v) => ({ ...v, name: HEAD_PREFIX + v.name })),
    ];
  }

  stateVariables(): NamedVariable[] {
    return [
      ...this.body.params.all().map((v) => ({ ...v, name: BODY_PREFIX + v.name })),
      ...this.head.params.all().map((v) => ({ ...v, name: HEAD_PREFIX + v.name })),
    ];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.body.params.dispose();
    this.head.params.dispose();
  }
}
