import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { thumbnailPng } from './image-ops.js';

describe('thumbnailPng', () => {
  it('makes square PNG thumbnails of raw and encoded images', async () => {
    const raw = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 7) & 255);
    const a = await thumbnailPng({ bytes: raw, width: 28, height: 28, channels: 1, format: 'raw' }, 16);
    const ma = await sharp(a).metadata();
    expect([ma.format, ma.width, ma.height]).toEqual(['png', 16, 16]);
    const jpeg = await sharp({ create: { width: 50, height: 30, channels: 3, background: { r: 200, g: 10, b: 10 } } }).jpeg().toBuffer();
    const b = await thumbnailPng({ bytes: jpeg, width: 50, height: 30, channels: 3, format: 'encoded' }, 20);
    const { data, info } = await sharp(b).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([20, 20, 3]);
    expect(data[0]).toBeGreaterThan(150); // still red: cover-cropped, not padded
    await expect(thumbnailPng({ bytes: raw, width: 28, height: 28, channels: 1, format: 'raw' }, 0)).rejects.toThrow(RangeError);
  });
});
