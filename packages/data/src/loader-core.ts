import { HierError, Rng } from '@hier-ts/core';
import { type AugmentSpec, outputShape } from './augment.js';
import { augmentInto, type StoredImage } from './image-ops.js';

/** The trainer's batch (identical to `Batch` in packages/engine/src/contracts.ts; data has no tfjs). */
export interface Batch {
  /** Float32 NHWC, normalised. */
  images: Float32Array;
  shape: [n: number, h: number, w: number, c: number];
  labels: Int32Array;
  /** Row indices in the source dataset. */
  indices: Int32Array;
}

export type ImageSource = (index: number) => StoredImage | Promise<StoredImage>;

/**
 * Builds the pixels of one batch. Each image gets its own generator derived from (batch seed, position), so
 * the result does not depend on which worker or in which order the images are processed.
 */
export async function buildImages(indices: Int32Array, spec: AugmentSpec, seed: number, source: ImageSource, parallel = 4): Promise<{ images: Float32Array; shape: [number, number, number, number] }> {
  const [h, w, c] = outputShape(spec);
  const per = h * w * c;
  const images = new Float32Array(indices.length * per);
  let next = 0;
  const run = async () => {
    for (;;) {
      const k = next++;
      if (k >= indices.length) return;
      const img = await source(indices[k]!);
      if (spec.kind.startsWith('fmnist') && (img.format !== 'raw' || img.width !== 28 || img.height !== 28 || img.channels !== 1))
        throw new HierError('AUGMENT_SHAPE', `row ${indices[k]}: the Fashion-MNIST recipe needs raw 28×28×1 pixels, got ${img.format} ${img.width}×${img.height}×${img.channels}`);
      await augmentInto(img, spec, new Rng((seed + Math.imul(k + 1, 0x9e3779b1)) >>> 0), images, k * per);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, indices.length)) }, run));
  return { images, shape: [indices.length, h, w, c] };
}
