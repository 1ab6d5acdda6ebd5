import path from 'node:path';
import { HierError, writeFileAtomic } from '@hier-ts/core';
import sharp from 'sharp';

/** A categorical colour for label `i`: golden-angle hues, so neighbouring ids get distant colours. */
export function colorFor(i: number): string {
  const h = ((i * 137.508) % 360 + 360) % 360;
  const l = 42 + (Math.abs(i) % 3) * 8;
  return `hsl(${h.toFixed(1)},70%,${l}%)`;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/** Rasterises an SVG string with sharp (librsvg); `scale` 1 keeps the SVG's pixel size (librsvg's 72 dpi). */
export async function svgToPng(svg: string, scale = 1): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

/** Writes an SVG as `.svg`, or rendered as `.png`, chosen by the file extension; atomic. */
export async function writePicture(file: string, svg: string): Promise<{ path: string; bytes: number }> {
  const ext = path.extname(file).toLowerCase();
  let data: Uint8Array;
  if (ext === '.svg') data = Buffer.from(svg, 'utf8');
  else if (ext === '.png') data = await svgToPng(svg);
  else throw new HierError('E_ARG', `writePicture(${file}): unsupported extension '${ext}'; use .svg or .png`);
  await writeFileAtomic(file, data);
  return { path: file, bytes: data.byteLength };
}
