import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BenchRecord, machineInfo } from '@hier-ts/core';
import sharp from 'sharp';
import { openDataset } from './arrow/reader.js';
import { fashionMnistTrainAugment, trainAugment } from './augment.js';
import { encodeIdx } from './formats/idx.js';
import { ingestDataset } from './ingest.js';
import { createLoader } from './loader.js';
import { ShuffledSampler, UniqueClassSampler } from './sampler.js';

async function noisyJpeg(width: number, height: number, seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < raw.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Smooth gradient plus noise: closer to a photo's file size than pure noise.
    raw[i] = ((i % (width * 3)) / 6 + ((x >>> 24) & 0x3f)) & 0xff;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** Benchmarks of issue 4: ingestion of 500×375 JPEGs and the worker-thread training loader. */
export async function runBenchmarks({ quick, log }: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const machine = machineInfo();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-data-bench-'));
  const records: BenchRecord[] = [];
  try {
    const n = quick ? 96 : 500;
    const classes = 10;
    const root = path.join(dir, 'CUB_200_2011', 'images');
    for (let i = 0; i < n; i++) {
      const cls = path.join(root, `${String((i % classes) + 1).padStart(3, '0')}.C`);
      fs.mkdirSync(cls, { recursive: true });
      fs.writeFileSync(path.join(cls, `${String(i).padStart(5, '0')}.jpg`), await noisyJpeg(500, 375, i));
    }
    const out = path.join(dir, 'bench.arrow');
    // CPU seconds (all threads of this process, libvips' included) say what the figure would be on an idle
    // machine when other work shares the cores.
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await ingestDataset({ dataset: 'CUB', dataPath: dir, out, force: true });
    const ingestS = Number(process.hrtime.bigint() - t0) / 1e9;
    const ingestCpu = cpuSeconds(cpu0);
    records.push({ id: 'ingest.jpeg-500x375', value: n / ingestS, unit: 'images/s', params: { images: n, resize: null, decodeCheck: true, inflight: 8, cpuSeconds: ingestCpu, imagesPerCpuSecond: n / ingestCpu, loadavg1: os.loadavg()[0] }, backend: 'sharp', machine, target: '>= 500 images/s on 2 cores' });
    log(`ingest.jpeg-500x375: ${(n / ingestS).toFixed(0)} images/s (${n} images; ${(n / ingestCpu).toFixed(0)} images per CPU-second; load ${os.loadavg()[0]!.toFixed(1)})`);

    const ds = await openDataset(out);
    const batchSize = 32;
    const batches = new ShuffledSampler({ size: ds.length, batchSize, seed: 0 }).epoch(0);
    const cpu1 = process.cpuUsage();
    const tl = process.hrtime.bigint();
    let images = 0;
    for await (const b of createLoader({ dataset: ds, batches, augment: trainAugment('resnet50', 224), workers: 2, seed: 0 })) images += b.shape[0];
    const loadS = Number(process.hrtime.bigint() - tl) / 1e9;
    const loadCpu = cpuSeconds(cpu1);
    records.push({ id: 'loader.train-aug.224', value: images / loadS, unit: 'images/s', params: { images, batchSize, workers: 2, source: '500x375 JPEG', transform: 'RandomResizedCrop(224, 0.08-1, bicubic) + flip + normalise', cpuSeconds: loadCpu, imagesPerCpuSecond: images / loadCpu, loadavg1: os.loadavg()[0] }, backend: 'sharp+worker_threads', machine });
    log(`loader.train-aug.224: ${(images / loadS).toFixed(0)} images/s (${images} images, 2 workers, includes worker start-up; ${(images / loadCpu).toFixed(0)} images per CPU-second)`);

    // Fashion-MNIST in-process path (the demo's loader): 6000 raw images, batches of 90 from the sampler.
    const fm = path.join(dir, 'fm');
    fs.mkdirSync(fm);
    const m = 6000;
    const px = Uint8Array.from({ length: m * 784 }, (_, i) => (i * 31) & 255);
    const lb = Uint8Array.from({ length: m }, (_, i) => i % 10);
    for (const p of ['train', 't10k']) {
      fs.writeFileSync(path.join(fm, `${p}-images-idx3-ubyte`), encodeIdx([m, 28, 28], px));
      fs.writeFileSync(path.join(fm, `${p}-labels-idx1-ubyte`), encodeIdx([m], lb));
    }
    const fmOut = path.join(dir, 'fm.arrow');
    await ingestDataset({ dataset: 'FashionMNIST', dataPath: fm, out: fmOut });
    const fds = await openDataset(fmOut);
    const train = fds.indicesOf('train');
    const s = new UniqueClassSampler({ labels: Array.from(train, (i) => fds.labels[i]!), batchSize: 90, imagesPerClass: 2, seed: 0 });
    const fb = s.epoch(0).map((b) => b.map((j) => train[j]!));
    const tf = process.hrtime.bigint();
    let fmImages = 0;
    for await (const b of createLoader({ dataset: fds, batches: fb, augment: fashionMnistTrainAugment(), seed: 0 })) fmImages += b.shape[0];
    const fmS = Number(process.hrtime.bigint() - tf) / 1e9;
    records.push({ id: 'loader.fmnist-train.b90', value: fmImages / fmS, unit: 'images/s', params: { images: fmImages, batchSize: 90, workers: 0 }, backend: 'in-process', machine });
    log(`loader.fmnist-train.b90: ${(fmImages / fmS).toFixed(0)} images/s (in-process)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return records;
}
