/**
 * Reads width, height and colour layout from a JPEG (SOFn segment) or PNG (IHDR, plus any tRNS before IDAT)
 * header in JS, so ingestion needs no separate `sharp(buf).metadata()` call (a second libvips round trip
 * per image). Only the header is looked at: a header that parses says nothing about whether the rest of
 * the file decodes. That is still checked by the full decode that follows.
 */
export interface ImageHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  /**
   * True when the decoded image is already 3-channel 8-bit RGB without alpha: a 3-component JPEG, or an
   * 8-bit truecolour PNG / palette PNG without transparency. Grey, CMYK/YCCK, 16-bit and alpha images are not.
   */
  rgb8: boolean;
}

/** SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegHeader(b: Uint8Array): ImageHeader | null {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      i += 2; // markers without a length
      continue;
    }
    if (m === 0xd9 || m === 0xda) return null; // EOI / SOS before any frame header
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    if (len < 2) return null;
    if (isSof(m)) {
      if (i + 10 > b.length || len < 8) return null;
      const height = (b[i + 5]! << 8) | b[i + 6]!;
      const width = (b[i + 7]! << 8) | b[i + 8]!;
      const precision = b[i + 4]!;
      const components = b[i + 9]!;
      // Height 0 means "given later by a DNL marker": leave such rare files to libvips.
      if (width === 0 || height === 0) return null;
      return { format: 'jpeg', width, height, rgb8: components === 3 && precision === 8 };
    }
    i += 2 + len;
  }
  return null;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunkType(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

function pngHeader(b: Uint8Array): ImageHeader | null {
  if (b.length < 33 || chunkType(b, 12) !== 'IHDR') return null;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const bitDepth = b[24]!;
  const colourType = b[25]!;
  if (width === 0 || height === 0) return null;
  // 2 = truecolour, 3 = palette (decoded as RGB); a tRNS chunk adds alpha to either.
  let rgb8 = (colourType === 2 && bitDepth === 8) || colourType === 3;
  for (let i = 33; rgb8 && i + 8 <= b.length; ) {
    const type = chunkType(b, i + 4);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'tRNS') rgb8 = false;
    i += 12 + view.getUint32(i);
  }
  return { format: 'png', width, height, rgb8 };
}

/** The header of a JPEG or PNG buffer, or null for any other format or a header this parser does not follow. */
export function readImageHeader(b: Uint8Array): ImageHeader | null {
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegHeader(b);
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return pngHeader(b);
  return null;
}
