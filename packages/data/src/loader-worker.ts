import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import type { AugmentSpec } from './augment.js';
import { type ArrowDataset, openDataset, type OpenDatasetOptions } from './arrow/reader.js';
import { buildImages } from './loader-core.js';

export type WorkerRequest =
  | { type: 'init'; file: string; open: OpenDatasetOptions }
  | { type: 'batch'; run: number; id: number; indices: Int32Array; seed: number; augment: AugmentSpec };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'batch'; run: number; id: number; images: Float32Array; shape: [number, number, number, number] }
  | { type: 'error'; run: number; id: number; code: string; message: string };

// One libvips thread per worker: the workers are the parallelism (platform notes §6).
sharp.concurrency(1);
let ds: ArrowDataset | null = null;

parentPort!.on('message', async (msg: WorkerRequest) => {
  if (msg.type === 'init') {
    try {
      ds = await openDataset(msg.file, msg.open);
      parentPort!.postMessage({ type: 'ready' } satisfies WorkerReply);
    } catch (err) {
      const e = err as { code?: string; message: string };
      parentPort!.postMessage({ type: 'error', run: -1, id: -1, code: e.code ?? 'LOADER_WORKER', message: e.message } satisfies WorkerReply);
    }
    return;
  }
  try {
    const d = ds!;
    const fmt = d.info.imageFormat;
    const { images, shape } = await buildImages(msg.indices, msg.augment, msg.seed, async (i) => ({
      bytes: await d.image(i),
      width: d.widths[i]!,
      height: d.heights[i]!,
      channels: d.channels[i]!,
      format: fmt,
    }));
    parentPort!.postMessage({ type: 'batch', run: msg.run, id: msg.id, images, shape } satisfies WorkerReply, [images.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err as { code?: string; message: string };
    parentPort!.postMessage({ type: 'error', run: msg.run, id: msg.id, code: e.code ?? 'LOADER_WORKER', message: e.message } satisfies WorkerReply);
  }
});
