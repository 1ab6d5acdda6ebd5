import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCars, makeCub, makeInshop, makeSop } from '../__fixtures__/datasets.js';
import { parseCarClassName, readCars } from './cars.js';
import { readCub } from './cub.js';
import { readInshop } from './inshop.js';
import { readSop } from './sop.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-readers-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sub = (name: string) => {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

describe('CUB reader', () => {
  it('labels sorted class folders by rank, skips ._ files, splits at label 100 and records the official split', async () => {
    const classes = Array.from({ length: 101 }, (_, i) => `${String(i + 1).padStart(3, '0')}.Bird_${i + 1}`);
    const parent = sub('cub');
    const root = await makeCub(parent, [classes[1]!, classes[0]!, classes[100]!], 2, { officialSplit: true });
    for (const c of classes.slice(2, 100)) fs.mkdirSync(path.join(root, 'images', c), { recursive: true });
    const l = readCub(parent);
    expect(readCub(root).items.length).toBe(6);
    expect(l.items.map((i) => [i.label, i.split])).toEqual([[0, 'train'], [0, 'train'], [1, 'train'], [1, 'train'], [100, 'test'], [100, 'test']]);
    expect(l.items[0]!.relPath).toBe('images/001.Bird_1/Bird_1_0.jpg');
    expect(l.items.map((i) => i.extra.official_is_train)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(l.classNames![100]).toBe('101.Bird_101');
  });

  it('names the missing folder, and rejects more than 200 classes', async () => {
    expect(() => readCub(path.join(dir, 'nowhere'))).toThrow(expect.objectContaining({ code: 'DATASET_DIR_MISSING', message: expect.stringContaining('nowhere') }));
    expect(() => readCub(sub('empty'))).toThrow(expect.objectContaining({ code: 'DATASET_FILE_MISSING', message: expect.stringContaining(path.join('CUB_200_2011', 'images')) }));
    const root = await makeCub(sub('cub201'), ['001.A'], 1);
    for (let i = 2; i <= 201; i++) fs.mkdirSync(path.join(root, 'images', `${String(i).padStart(3, '0')}.X`));
    expect(() => readCub(root)).toThrow(expect.objectContaining({ code: 'LABEL_OUT_OF_RANGE', message: expect.stringContaining('201 class folders') }));
  });
});

describe('Cars-196 reader', () => {
  const names = Array.from({ length: 196 }, (_, i) => (i === 0 ? 'AM General Hummer SUV 2000' : i === 98 ? 'Aston Martin V8 Vantage Coupe 2012' : `Make${i} Model Sedan 20${10 + (i % 9)}`));
  for (const compress of [true, false]) {
    it(`reads cars_annos.mat (${compress ? 'compressed' : 'plain'}): labels class−1, split at 98, boxes and names as columns`, async () => {
      const parent = sub(`cars-${compress}`);
      await makeCars(
        parent,
        [
          { path: 'car_ims/000001.jpg', box: [30, 52, 246, 147], cls: 1, test: 0 },
          { path: 'car_ims/000002.jpg', box: [100, 19, 576, 300], cls: 99, test: 1 },
          { path: 'car_ims/000003.jpg', box: [1, 2, 3, 4], cls: 196, test: 0 },
        ],
        names,
        compress,
      );
      const l = readCars(parent);
      expect(l.items.map((i) => [i.relPath, i.label, i.split])).toEqual([
        ['car_ims/000001.jpg', 0, 'train'],
        ['car_ims/000002.jpg', 98, 'test'],
        ['car_ims/000003.jpg', 195, 'test'],
      ]);
      expect(l.items[1]!.extra).toMatchObject({ bbox_x1: 100, bbox_y2: 300, official_test: 1, make: 'Aston Martin', model: 'V8 Vantage Coupe', year: 2012 });
      expect(l.items[0]!.extra).toMatchObject({ make: 'AM General', model: 'Hummer SUV', year: 2000 });
      expect(l.classNames!.length).toBe(196);
    });
  }

  it('rejects a class outside 1..196, a missing .mat and an HDF5 .mat', async () => {
    const parent = sub('cars-bad');
    await makeCars(parent, [{ path: 'car_ims/000001.jpg', box: [1, 2, 3, 4], cls: 197, test: 0 }], names, true, false);
    expect(() => readCars(parent)).toThrow(expect.objectContaining({ code: 'LABEL_OUT_OF_RANGE', message: expect.stringContaining('annotations(1).class = 197') }));
    expect(() => readCars(sub('cars-none'))).toThrow(expect.objectContaining({ code: 'DATASET_FILE_MISSING', message: expect.stringContaining(path.join('cars196', 'cars_annos.mat')) }));
    const h5 = Buffer.alloc(1024);
    h5.write('MATLAB 7.3 MAT-file', 0, 'latin1');
    h5.write('\x89HDF', 512, 'latin1');
    fs.writeFileSync(path.join(parent, 'cars196', 'cars_annos.mat'), h5);
    expect(() => readCars(parent)).toThrow(expect.objectContaining({ code: 'MAT_V73' }));
    expect(parseCarClassName('Land Rover Range Rover SUV 2012')).toEqual({ make: 'Land Rover', model: 'Range Rover SUV', year: 2012 });
  });
});

describe('SOP reader', () => {
  it('reads both files, label = class_id − 1, super_class_id as a column', async () => {
    const parent = sub('sop');
    await makeSop(parent, [[1, 1, 'bicycle_final/1_0.JPG'], [1, 1, 'bicycle_final/1_1.JPG'], [2, 12, 'toaster_final/2_0.JPG']], [[11319, 3, 'chair_final/3_0.JPG']]);
    const l = readSop(parent);
    expect(l.items.map((i) => [i.label, i.split, i.extra.super_class_id, i.extra.image_id])).toEqual([[0, 'train', 1, 1], [0, 'train', 1, 2], [1, 'train', 12, 3], [11318, 'test', 3, 4]]);
  });

  it('names file and line of a malformed row and a bad class id', async () => {
    const parent = sub('sop-bad');
    const root = await makeSop(parent, [[1, 1, 'bicycle_final/1_0.JPG']], [[2, 1, 'bicycle_final/2_0.JPG']]);
    const file = path.join(root, 'Ebay_train.txt');
    fs.appendFileSync(file, '5 7 bicycle_final/x.JPG\n');
    expect(() => readSop(parent)).toThrow(expect.objectContaining({ code: 'DATASET_MALFORMED', message: expect.stringContaining(`${file}:3: expected 4`) }));
    fs.writeFileSync(file, 'image_id class_id super_class_id path\n1 0 1 bicycle_final/1_0.JPG\n');
    expect(() => readSop(parent)).toThrow(expect.objectContaining({ code: 'LABEL_OUT_OF_RANGE', message: expect.stringContaining(`${file}:2`) }));
    fs.writeFileSync(file, 'image_id class_id super_class_id path\n1 x 1 bicycle_final/1_0.JPG\n');
    expect(() => readSop(parent)).toThrow(expect.objectContaining({ message: expect.stringContaining('class_id "x" is not an integer') }));
    fs.rmSync(path.join(root, 'Ebay_test.txt'));
    fs.writeFileSync(file, 'image_id class_id super_class_id path\n');
    expect(() => readSop(parent)).toThrow(expect.objectContaining({ code: 'DATASET_FILE_MISSING', message: expect.stringContaining('Ebay_test.txt') }));
  });
});

describe('In-shop reader', () => {
  const rows: [string, string, string][] = [
    ['img/WOMEN/Dresses/id_00000002/02_1_front.jpg', 'id_00000002', 'train'],
    ['img/MEN/Denim/id_00000080/01_1_front.jpg', 'id_00000080', 'train'],
    ['img/WOMEN/Dresses/id_00000007/01_1_front.jpg', 'id_00000007', 'train'],
    ['img/WOMEN/Blouses_Shirts/id_00000050/01_1_front.jpg', 'id_00000050', 'query'],
    ['img/WOMEN/Blouses_Shirts/id_00000050/01_2_side.jpg', 'id_00000050', 'gallery'],
    ['img/MEN/Denim/id_00000003/01_2_side.jpg', 'id_00000003', 'gallery'],
  ];
  it('ranks item ids separately for train and query ∪ gallery and keeps gender / category', async () => {
    const parent = sub('inshop');
    await makeInshop(parent, rows);
    const l = readInshop(parent);
    expect(l.items.map((i) => [i.label, i.split])).toEqual([[0, 'train'], [2, 'train'], [1, 'train'], [1, 'query'], [1, 'gallery'], [0, 'gallery']]);
    expect(l.items[1]!.extra).toEqual({ item_id: 'id_00000080', gender: 'MEN', category: 'Denim' });
    expect(l.items[0]!.relPath).toBe('Img/img/WOMEN/Dresses/id_00000002/02_1_front.jpg');
  });

  it('rejects a wrong count line and an unknown status with file and line', async () => {
    const parent = sub('inshop-bad');
    const root = await makeInshop(parent, rows, 7);
    const file = path.join(root, 'Eval', 'list_eval_partition.txt');
    expect(() => readInshop(parent)).toThrow(expect.objectContaining({ message: expect.stringContaining(`${file}:1: declares 7 images but 6`) }));
    fs.writeFileSync(file, `1\nimage_name item_id evaluation_status\nimg/a/b/id_1/x.jpg id_00000001 validation\n`);
    expect(() => readInshop(parent)).toThrow(expect.objectContaining({ code: 'DATASET_MALFORMED', message: expect.stringContaining(`${file}:3`) }));
  });
});
