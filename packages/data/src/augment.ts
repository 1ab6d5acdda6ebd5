import { HierError, type Rng } from '@hier-ts/core';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from './readers/fashion-mnist.js';

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Python's round(): halves go to the even neighbour (torchvision relies on it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of area·U(scale) and log-uniform aspect ratio,
 * accepted when the box fits; otherwise a centred crop of the whole image with the ratio clamped.
 */
export function randomResizedCropBox(width: number, height: number, rng: Rng, scale: readonly [number, number] = [0.08, 1], ratio: readonly [number, number] = [3 / 4, 4 / 3]): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let t = 0; t < 10; t++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const r = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(target * r));
    const h = roundHalfEven(Math.sqrt(target / r));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** torchvision Resize(int): the short side becomes `size`, the long side int(size·long/short). */
export function resizeShortSide(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.floor((size * height) / width) };
  return { width: Math.floor((size * width) / height), height: size };
}

/** torchvision CenterCrop offsets (round((H − size) / 2)). */
export function centerCropBox(width: number, height: number, size: number): CropBox {
  if (size > width || size > height) throw new HierError('AUGMENT_CROP', `center crop ${size} does not fit an image of ${width}×${height}`);
  return { left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2), width: size, height: size };
}

export interface Normalization {
  mean: number[];
  std: number[];
}

export const IMAGENET_NORMALIZATION: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const HALF_NORMALIZATION: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
export const FASHION_MNIST_NORMALIZATION: Normalization = { mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };

/** Official rule: names starting with "vit" use 0.5/0.5; ResNet, DeiT and DINO use ImageNet statistics. */
export function normalizationFor(model: string): Normalization {
  return model.toLowerCase().startsWith('vit') ? HALF_NORMALIZATION : IMAGENET_NORMALIZATION;
}

/** Official rule: (0.2, 1) when the name contains "vit" or "deit" (dino_vits16 included), else (0.08, 1). */
export function cropScaleFor(model: string): [number, number] {
  return /vit|deit/i.test(model) ? [0.2, 1] : [0.08, 1];
}

export type AugmentSpec =
  | { kind: 'train'; size: number; scale: [number, number]; ratio: [number, number]; flip: boolean; norm: Normalization }
  | { kind: 'eval'; resize: number; size: number; norm: Normalization }
  /** Fashion-MNIST recipe on raw 28×28 grey: flip p=0.5, then a 28 crop of the image zero-padded by 2. */
  | { kind: 'fmnist-train'; pad: number; flip: boolean; norm: Normalization }
  | { kind: 'fmnist-eval'; norm: Normalization };

export function trainAugment(model: string, size = 224): AugmentSpec {
  return { kind: 'train', size, scale: cropScaleFor(model), ratio: [3 / 4, 4 / 3], flip: true, norm: normalizationFor(model) };
}

export function evalAugment(model: string, resize = 256, size = 224): AugmentSpec {
  return { kind: 'eval', resize, size, norm: normalizationFor(model) };
}

export function fashionMnistTrainAugment(): AugmentSpec {
  return { kind: 'fmnist-train', pad: 2, flip: true, norm: FASHION_MNIST_NORMALIZATION };
}

export function fashionMnistEvalAugment(): AugmentSpec {
  return { kind: 'fmnist-eval', norm: FASHION_MNIST_NORMALIZATION };
}

/** Output [h, w, c] of one image under `spec`. */
export function outputShape(spec: AugmentSpec): [number, number, number] {
  if (spec.kind === 'train' || spec.kind === 'eval') return [spec.size, spec.size, 3];
  return [28, 28, 1];
}

/** (x/255 − mean[c]) / std[c] for HWC bytes into `out` at `offset`. */
export function normalizeInto(pixels: Uint8Array, channels: number, norm: Normalization, out: Float32Array, offset: number): void {
  if (norm.mean.length !== channels || norm.std.length !== channels)
    throw new HierError('AUGMENT_NORM', `normalisation has ${norm.mean.length} means / ${norm.std.length} stds for ${channels}-channel pixels`);
  const scale = norm.std.map((s) => 1 / (255 * s));
  const shift = norm.mean.map((m, c) => m / norm.std[c]!);
  for (let i = 0, c = 0; i < pixels.length; i++) {
    out[offset + i] = pixels[i]! * scale[c]! - shift[c]!;
    if (++c === channels) c = 0;
  }
}

/**
 * The Fashion-MNIST training transform on one 28×28 grey image, written normalised into `out` at `offset`.
 * Flip first, then crop, as the reference run does; padding pixels are raw 0 before normalisation.
 */
export function fashionMnistAugmentInto(src: Uint8Array, rng: Rng, spec: Extract<AugmentSpec, { kind: 'fmnist-train' }>, out: Float32Array, offset: number): void {
  const S = 28;
  if (src.length !== S * S) throw new HierError('AUGMENT_SHAPE', `Fashion-MNIST augmentation needs 784 grey bytes, got ${src.length}`);
  const flip = spec.flip && rng.next() < 0.5;
  const oy = rng.int(2 * spec.pad + 1) - spec.pad;
  const ox = rng.int(2 * spec.pad + 1) - spec.pad;
  const mean = spec.norm.mean[0]!;
  const inv = 1 / spec.norm.std[0]!;
  const zero = -mean * inv;
  for (let y = 0; y < S; y++) {
    const sy = y + oy;
    for (let x = 0; x < S; x++) {
      const fx = x + ox;
      let v = zero;
      if (sy >= 0 && sy < S && fx >= 0 && fx < S) v = (src[sy * S + (flip ? S - 1 - fx : fx)]! / 255 - mean) * inv;
      out[offset + y * S + x] = v;
    }
  }
}
