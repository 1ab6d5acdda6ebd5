// Test-only builders of tiny dataset folders in each dataset's exact on-disk layout.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { writeMat5, type WriteValue } from './mat5-writer.js';

/** A small noisy RGB JPEG (noise so it is not trivially compressible); `seed` varies the content. */
export async function makeJpeg(width: number, height: number, seed: number, kind: 'rgb' | 'grey' | 'cmyk' | 'png' = 'rgb'): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < raw.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    raw[i] = (x >>> 24) & 0xff;
  }
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  if (kind === 'png') return img.png().toBuffer();
  // toColourspace('b-w'): greyscale() alone still writes a 3-component JPEG.
  if (kind === 'grey') return img.toColourspace('b-w').jpeg({ quality: 90 }).toBuffer();
  if (kind === 'cmyk') return img.toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
  return img.jpeg({ quality: 90 }).toBuffer();
}

function put(file: string, data: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
}

/** CUB_200_2011/images/<class>/<file>.jpg for the given classes (folder ranks = labels). */
export async function makeCub(parent: string, classes: string[], perClass: number, opts: { officialSplit?: boolean } = {}): Promise<string> {
  const root = path.join(parent, 'CUB_200_2011');
  const imagesTxt: string[] = [];
  const splitTxt: string[] = [];
  let id = 1;
  for (const [c, cls] of classes.entries()) {
    fs.mkdirSync(path.join(root, 'images', cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const name = `${cls.split('.')[1] ?? cls}_${i}.jpg`;
      put(path.join(root, 'images', cls, name), await makeJpeg(20 + i, 16, c * 100 + i));
      imagesTxt.push(`${id} ${cls}/${name}`);
      splitTxt.push(`${id} ${i % 2}`);
      id++;
    }
    put(path.join(root, 'images', cls, `._${cls}_fork.jpg`), 'resource fork');
    put(path.join(root, 'images', cls, 'notes.txt'), 'not an image');
  }
  if (opts.officialSplit) {
    put(path.join(root, 'images.txt'), `${imagesTxt.join('\n')}\n`);
    put(path.join(root, 'train_test_split.txt'), `${splitTxt.join('\n')}\n`);
  }
  return root;
}

export interface CarsAnnotation {
  path: string;
  box: [number, number, number, number];
  cls: number;
  test: number;
}

/** cars196/cars_annos.mat (+ car_ims/) as scipy reads it; bbox classes vary between uint8 and uint16. */
export async function makeCars(parent: string, anns: CarsAnnotation[], classNames: string[], compress: boolean, images = true): Promise<string> {
  const root = path.join(parent, 'cars196');
  const num = (v: number): WriteValue => ({ kind: 'numeric', cls: v > 255 ? 'uint16' : 'uint8', data: [v] });
  const annotations: WriteValue = {
    kind: 'struct',
    dims: [1, anns.length],
    fields: ['relative_im_path', 'bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'test'],
    elements: anns.map((a) => ({
      relative_im_path: { kind: 'char', text: a.path },
      bbox_x1: num(a.box[0]),
      bbox_y1: num(a.box[1]),
      bbox_x2: num(a.box[2]),
      bbox_y2: num(a.box[3]),
      class: { kind: 'numeric', cls: 'uint8', data: [a.cls] },
      test: { kind: 'numeric', cls: 'uint8', data: [a.test] },
    })),
  };
  const names: WriteValue = { kind: 'cell', dims: [1, classNames.length], cells: classNames.map((t) => ({ kind: 'char', text: t })) };
  put(path.join(root, 'cars_annos.mat'), writeMat5([{ name: 'annotations', value: annotations }, { name: 'class_names', value: names }], { compress }));
  if (images) for (const [i, a] of anns.entries()) put(path.join(root, a.path), await makeJpeg(24, 18, 500 + i));
  return root;
}

export async function makeSop(parent: string, train: [number, number, string][], test: [number, number, string][]): Promise<string> {
  const root = path.join(parent, 'Stanford_Online_Products');
  let id = 1;
  for (const [file, rows] of [
    ['Ebay_train.txt', train],
    ['Ebay_test.txt', test],
  ] as const) {
    const lines = ['image_id class_id super_class_id path'];
    for (const [cls, sup, p] of rows) {
      lines.push(`${id} ${cls} ${sup} ${p}`);
      put(path.join(root, p), await makeJpeg(16, 16, id));
      id++;
    }
    put(path.join(root, file), `${lines.join('\n')}\n`);
  }
  return root;
}

export async function makeInshop(parent: string, rows: [string, string, string][], count = rows.length): Promise<string> {
  const root = path.join(parent, 'Inshop_Clothes');
  const lines = [String(count), 'image_name item_id evaluation_status', ...rows.map((r) => r.join(' '))];
  put(path.join(root, 'Eval', 'list_eval_partition.txt'), `${lines.join('\n')}\n`);
  for (const [i, [name]] of rows.entries()) put(path.join(root, 'Img', name), await makeJpeg(16, 20, 900 + i));
  return root;
}
