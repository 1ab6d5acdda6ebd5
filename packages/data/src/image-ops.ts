import type { Rng } from '@hier-ts/core';
import sharp, { type Sharp } from 'sharp';
import { type AugmentSpec, centerCropBox, fashionMnistAugmentInto, normalizeInto, randomResizedCropBox, resizeShortSide } from './augment.js';

export interface StoredImage {
  bytes: Uint8Array;
  width: number;
  height: number;
  channels: number;
  format: 'encoded' | 'raw';
}

function input(img: StoredImage): Sharp {
  return img.format === 'raw'
    ? sharp(img.bytes, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    : sharp(img.bytes);
}

/**
 * Decodes and augments one image into `out` (HWC float32, normalised) at `offset`. One libvips pipeline per
 * image (crop → bicubic resize → flip → RGB), which the platform notes measured as the fast path. The crop
 * box comes from the stored width/height, so no separate metadata read is needed.
 */
export async function augmentInto(img: StoredImage, spec: AugmentSpec, rng: Rng, out: Float32Array, offset: number): Promise<void> {
  if (spec.kind === 'fmnist-train') return fashionMnistAugmentInto(img.bytes, rng, spec, out, offset);
  if (spec.kind === 'fmnist-eval') return normalizeInto(img.bytes, img.channels, spec.norm, out, offset);
  let pipe = input(img);
  if (spec.kind === 'train') {
    const box = randomResizedCropBox(img.width, img.height, rng, spec.scale, spec.ratio);
    const flip = spec.flip && rng.next() < 0.5;
    pipe = pipe.extract(box).resize(spec.size, spec.size, { fit: 'fill', kernel: 'cubic' });
    if (flip) pipe = pipe.flop();
  } else {
    const r = resizeShortSide(img.width, img.height, spec.resize);
    pipe = pipe.resize(r.width, r.height, { fit: 'fill', kernel: 'cubic' }).extract(centerCropBox(r.width, r.height, spec.size));
  }
  const { data, info } = await pipe.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  let px: Uint8Array = data;
  if (info.channels === 1) {
    px = new Uint8Array(data.length * 3);
    for (let i = 0; i < data.length; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = data[i]!;
  }
  normalizeInto(px, 3, spec.norm, out, offset);
}

/**
 * A small PNG of a stored image, cover-cropped to `size` × `size` (thumbnails on the Poincaré-disk picture).
 */
export async function thumbnailPng(img: StoredImage, size: number): Promise<Uint8Array> {
  if (!Number.isInteger(size) || size < 1 || size > 1024) throw new RangeError(`thumbnail size must be an integer in 1..1024, got ${size}`);
  const buf = await input(img).resize(size, size, { fit: 'cover', kernel: 'cubic' }).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
