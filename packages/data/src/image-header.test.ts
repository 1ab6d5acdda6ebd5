import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeJpeg } from './__fixtures__/datasets.js';
import { readImageHeader } from './image-header.js';

const noise = (w: number, h: number, c: 1 | 2 | 3 | 4) => sharp(Buffer.from(Array.from({ length: w * h * c }, (_, i) => (i * 37) & 255)), { raw: { width: w, height: h, channels: c } });

describe('readImageHeader', () => {
  it('reads JPEG sizes and tells 3-component JPEGs from grey and CMYK ones, as sharp.metadata does', async () => {
    const cases = [
      [await makeJpeg(31, 17, 1), true],
      [await makeJpeg(30, 20, 2, 'grey'), false],
      [await makeJpeg(30, 20, 3, 'cmyk'), false],
      [await noise(500, 375, 3).jpeg({ progressive: true }).toBuffer(), true],
      [await noise(9, 7, 3).jpeg({ chromaSubsampling: '4:4:4', quality: 100 }).toBuffer(), true],
      // EXIF + ICC segments come before the frame header and must be skipped.
      [await noise(64, 48, 3).withMetadata({ orientation: 6 }).withIccProfile('p3').jpeg().toBuffer(), true],
    ] as const;
    for (const [buf, rgb8] of cases) {
      const meta = await sharp(buf).metadata();
      expect(readImageHeader(buf)).toEqual({ format: 'jpeg', width: meta.width, height: meta.height, rgb8 });
      expect(meta.channels === 3).toBe(rgb8);
    }
  });

  it('reads PNG sizes; only 8-bit RGB or palette PNGs without transparency count as RGB', async () => {
    const rgb = await noise(23, 11, 3).png().toBuffer();
    expect(readImageHeader(rgb)).toEqual({ format: 'png', width: 23, height: 11, rgb8: true });
    expect(readImageHeader(await noise(23, 11, 4).png().toBuffer())).toMatchObject({ rgb8: false });
    expect(readImageHeader(await noise(23, 11, 1).toColourspace('b-w').png().toBuffer())).toMatchObject({ rgb8: false });
    expect(readImageHeader(await noise(23, 11, 3).png({ palette: true }).toBuffer())).toMatchObject({ width: 23, height: 11, rgb8: true });
    expect(readImageHeader(await noise(23, 11, 4).png({ palette: true }).toBuffer())).toMatchObject({ rgb8: false });
    expect(readImageHeader(await noise(23, 11, 3).toColourspace('rgb16').png().toBuffer())).toMatchObject({ rgb8: false });
    for (const buf of [await noise(23, 11, 3).png({ palette: true }).toBuffer(), await noise(23, 11, 4).png({ palette: true }).toBuffer()]) {
      const meta = await sharp(buf).metadata();
      expect(readImageHeader(buf)!.rgb8).toBe(meta.channels === 3 && !meta.hasAlpha);
    }
  });

  it('returns null for other formats and for a header it cannot follow', async () => {
    const jpeg = await makeJpeg(20, 16, 5);
    expect(readImageHeader(await noise(8, 8, 3).webp().toBuffer())).toBeNull();
    expect(readImageHeader(Buffer.from('not a jpeg at all'))).toBeNull();
    expect(readImageHeader(new Uint8Array(0))).toBeNull();
    expect(readImageHeader(jpeg.subarray(0, 40))).toBeNull(); // cut before the frame header
    const broken = Buffer.from(jpeg);
    broken[2] = 0x00; // not a marker where one must be
    expect(readImageHeader(broken)).toBeNull();
    expect(readImageHeader((await noise(23, 11, 3).png().toBuffer()).subarray(0, 20))).toBeNull();
  });
});
