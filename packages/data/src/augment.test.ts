import { Rng } from '@hier-ts/core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  centerCropBox,
  cropScaleFor,
  evalAugment,
  fashionMnistAugmentInto,
  fashionMnistTrainAugment,
  normalizationFor,
  randomResizedCropBox,
  resizeShortSide,
  roundHalfEven,
  trainAugment,
} from './augment.js';
import { augmentInto } from './image-ops.js';

/** An Rng whose draws are scripted (uniform draws from `nexts`, integers from `ints`). */
function scripted(nexts: number[], ints: number[]): Rng {
  return { next: () => nexts.shift()!, int: () => ints.shift()!, uniform: (lo = 0, hi = 1) => lo + (hi - lo) * nexts.shift()! } as unknown as Rng;
}

describe('augmentation parameters', () => {
  it('rounds like Python and resizes / crops like torchvision', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3]);
    expect(resizeShortSide(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(resizeShortSide(300, 600, 256)).toEqual({ width: 256, height: 512 });
    expect(centerCropBox(341, 256, 224)).toEqual({ left: 58, top: 16, width: 224, height: 224 });
    expect(() => centerCropBox(100, 256, 224)).toThrow(/224/);
  });

  it('RandomResizedCrop stays inside the image, within scale and ratio', () => {
    const rng = new Rng(0);
    for (let t = 0; t < 500; t++) {
      const b = randomResizedCropBox(500, 375, rng, [0.2, 1], [3 / 4, 4 / 3]);
      expect(b.left + b.width).toBeLessThanOrEqual(500);
      expect(b.top + b.height).toBeLessThanOrEqual(375);
      const frac = (b.width * b.height) / (500 * 375);
      expect(frac).toBeGreaterThan(0.19);
      expect(frac).toBeLessThanOrEqual(1);
      expect(b.width / b.height).toBeGreaterThan(0.7);
      expect(b.width / b.height).toBeLessThan(1.4);
    }
  });

  it('falls back to a centred, ratio-clamped crop after 10 failed tries', () => {
    const b = randomResizedCropBox(100, 10, new Rng(1), [0.99, 1]);
    expect(b).toEqual({ left: 43, top: 0, width: 13, height: 10 });
    // A first try that fits is taken with uniform offsets.
    const ok = randomResizedCropBox(100, 100, scripted([1, 0.5], [7, 3]), [0.08, 1]);
    expect(ok).toEqual({ left: 3, top: 7, width: 100, height: 100 });
  });

  it('picks scale and normalisation by model name as the official code', () => {
    expect(cropScaleFor('vit_small_patch16_224')).toEqual([0.2, 1]);
    expect(cropScaleFor('dino_vits16')).toEqual([0.2, 1]);
    expect(cropScaleFor('deit_small_distilled_patch16_224')).toEqual([0.2, 1]);
    expect(cropScaleFor('resnet50')).toEqual([0.08, 1]);
    expect(normalizationFor('vit_small_patch16_224').mean).toEqual([0.5, 0.5, 0.5]);
    expect(normalizationFor('deit_small_distilled_patch16_224').mean).toEqual([0.485, 0.456, 0.406]);
    expect(normalizationFor('dino_vits16').std).toEqual([0.229, 0.224, 0.225]);
  });
});

describe('Fashion-MNIST recipe', () => {
  const src = Uint8Array.from({ length: 784 }, (_, i) => i % 251);
  const norm = (v: number) => (v / 255 - 0.28604) / 0.35302;

  it('flips, then crops the zero-padded image', () => {
    const out = new Float32Array(784);
    // no flip (0.9 ≥ 0.5), row offset int 0 → −2, column offset int 4 → +2
    fashionMnistAugmentInto(src, scripted([0.9], [0, 4]), fashionMnistTrainAugment() as never, out, 0);
    expect(out[0]).toBeCloseTo(norm(0), 6);
    expect(out[2 * 28 + 0]).toBeCloseTo(norm(src[0 * 28 + 2]!), 6);
    expect(out[5 * 28 + 26]).toBeCloseTo(norm(0), 6);
    expect(out[5 * 28 + 10]).toBeCloseTo(norm(src[3 * 28 + 12]!), 6);
    // flip (0.1 < 0.5), no shift: out(y,x) = src(y, 27 − x)
    fashionMnistAugmentInto(src, scripted([0.1], [2, 2]), fashionMnistTrainAugment() as never, out, 0);
    expect(out[4 * 28 + 3]).toBeCloseTo(norm(src[4 * 28 + 24]!), 6);
  });
});

describe('image pipeline (sharp)', () => {
  it('train and eval transforms produce normalised NHWC pixels of the right size', async () => {
    const jpeg = await sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer();
    const img = { bytes: jpeg, width: 120, height: 90, channels: 3, format: 'encoded' as const };
    const spec = trainAugment('resnet50', 32);
    const out = new Float32Array(2 * 32 * 32 * 3);
    await augmentInto(img, spec, new Rng(3), out, 32 * 32 * 3);
    const expectC = [200, 100, 50].map((v, c) => (v / 255 - [0.485, 0.456, 0.406][c]!) / [0.229, 0.224, 0.225][c]!);
    for (let c = 0; c < 3; c++) expect(out[32 * 32 * 3 + 100 * 3 + c]).toBeCloseTo(expectC[c]!, 1);
    expect(out[0]).toBe(0);
    const ev = new Float32Array(24 * 24 * 3);
    await augmentInto(img, evalAugment('vit_small', 28, 24), new Rng(0), ev, 0);
    expect(ev[5 * 3]).toBeCloseTo((200 / 255 - 0.5) / 0.5, 1);
    const grey = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 90, g: 90, b: 90 } } }).greyscale().png().toBuffer();
    const g = new Float32Array(16 * 16 * 3);
    await augmentInto({ bytes: grey, width: 40, height: 40, channels: 1, format: 'encoded' }, trainAugment('vit_s', 16), new Rng(0), g, 0);
    expect(g[3 * 7 + 2]).toBeCloseTo((90 / 255 - 0.5) / 0.5, 1);
  });
});
