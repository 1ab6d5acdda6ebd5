import { Worker } from 'node:worker_threads';
import { HierError, Rng, resolveWorkerUrl, workerExecArgv } from '@hier-ts/core';
import type { ArrowDataset, OpenDatasetOptions } from './arrow/reader.js';
import type { AugmentSpec } from './augment.js';
import { type Batch, buildImages } from './loader-core.js';
import type { WorkerReply, WorkerRequest } from './loader-worker.js';

export interface LoaderOptions {
  /** The opened dataset (labels come from it; in-process mode also reads images from it). */
  dataset: ArrowDataset;
  /** Row indices per batch, e.g. `sampler.epoch(e)`; used by `for await (… of loader)`. */
  batches?: readonly Int32Array[];
  augment: AugmentSpec;
  /** Seeds the per-batch augmentation streams; same seed → same pixels whatever the worker count. */
  seed?: number;
  /** 0 decodes in this thread (the fast path for raw-pixel data such as Fashion-MNIST). */
  workers?: number;
  /** Batches decoded ahead of the consumer (bounded queue). Default 2 per worker, 1 in-process. */
  prefetch?: number;
  /** How each worker opens the file (default `auto`: whole file in memory up to 2 GiB). */
  open?: OpenDatasetOptions;
}

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: unknown) => void;
  promise: Promise<Batch>;
}

function deferred(): Pending {
  let resolve!: (b: Batch) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<Batch>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { resolve, reject, promise };
}

/** One pass over a list of batches; replies for an abandoned run are recognised by `run` and dropped. */
interface Run {
  run: number;
  batches: readonly Int32Array[];
  seeds: number[];
  augment: AugmentSpec;
  results: Map<number, Pending>;
  dispatched: number;
  limit: number;
}

/**
 * Yields `Batch`es in the order given, decoding up to `prefetch` of them ahead in worker threads. The workers
 * live until `close()`, so `epoch(batches)` can be called once per epoch without re-spawning them or
 * re-reading the file. `for await (const b of loader)` runs `options.batches` once and then closes.
 */
export class DataLoader implements AsyncIterable<Batch> {
  private workers: Worker[] = [];
  private idle: Worker[] = [];
  private closed = false;
  private started: Promise<void> | null = null;
  private failure: HierError | null = null;
  private current: Run | null = null;
  private runCounter = 0;
  private readonly seedRng: Rng;

  constructor(private readonly opts: LoaderOptions) {
    this.seedRng = new Rng(opts.seed ?? 0);
    if (opts.batches) this.check(opts.batches);
    const w = opts.workers ?? 0;
    if (!(Number.isInteger(w) && w >= 0)) throw new HierError('LOADER_CONFIG', `workers must be a non-negative integer, got ${w}`);
  }

  private check(batches: readonly Int32Array[]): void {
    const n = this.opts.dataset.length;
    for (const b of batches)
      for (const i of b) if (!(i >= 0 && i < n)) throw new HierError('LOADER_INDEX', `batch index ${i} outside the dataset ${this.opts.dataset.info.file} (${n} rows)`);
  }

  private get workerCount(): number {
    return this.opts.workers ?? 0;
  }

  private labelsOf(indices: Int32Array): Int32Array {
    return indices.map((i) => this.opts.dataset.labels[i]!);
  }

  private async inProcess(indices: Int32Array, seed: number, augment: AugmentSpec): Promise<Batch> {
    const ds = this.opts.dataset;
    const { images, shape } = await buildImages(indices, augment, seed, async (i) => ({
      bytes: ds.mode === 'memory' ? ds.imageSync(i) : await ds.image(i),
      width: ds.widths[i]!,
      height: ds.heights[i]!,
      channels: ds.channels[i]!,
      format: ds.info.imageFormat,
    }));
    return { images, shape, labels: this.labelsOf(indices), indices };
  }

  private start(): Promise<void> {
    if (this.started) return this.started;
    const url = resolveWorkerUrl(import.meta.url, './loader-worker.js');
    this.started = Promise.all(
      Array.from({ length: this.workerCount }, () => {
        const w = new Worker(url, { execArgv: workerExecArgv() });
        this.workers.push(w);
        return new Promise<void>((resolve, reject) => {
          w.once('message', (m: WorkerReply) => {
            if (m.type === 'ready') {
              w.on('message', (msg: WorkerReply) => this.onMessage(w, msg));
              this.idle.push(w);
              resolve();
            } else if (m.type === 'error') reject(new HierError(m.code, m.message));
          });
          const crash = (e: HierError) => {
            this.fail(e);
            reject(e);
          };
          w.on('error', (err) => crash(new HierError('LOADER_WORKER', `data loader worker crashed: ${err.message}`)));
          w.on('exit', (code) => {
            if (!this.closed) crash(new HierError('LOADER_WORKER', `data loader worker exited with code ${code}`));
          });
          w.postMessage({ type: 'init', file: this.opts.dataset.info.file, open: this.opts.open ?? {} } satisfies WorkerRequest);
        });
      }),
    ).then(() => undefined);
    return this.started;
  }

  private fail(err: HierError): void {
    this.failure ??= err;
    if (this.current) for (const p of this.current.results.values()) p.reject(err);
  }

  private onMessage(w: Worker, msg: WorkerReply): void {
    if (msg.type === 'ready') return;
    this.idle.push(w);
    const run = this.current;
    if (run && msg.run === run.run) {
      const p = run.results.get(msg.id);
      if (msg.type === 'error') p?.reject(new HierError(msg.code, `batch ${msg.id}: ${msg.message}`));
      else p?.resolve({ images: msg.images, shape: msg.shape, labels: this.labelsOf(run.batches[msg.id]!), indices: run.batches[msg.id]! });
    }
    this.pump();
  }

  private pump(): void {
    const run = this.current;
    if (!run) return;
    while (!this.closed && this.idle.length > 0 && run.dispatched < Math.min(run.limit, run.batches.length)) {
      const id = run.dispatched++;
      if (!run.results.has(id)) run.results.set(id, deferred());
      const w = this.idle.pop()!;
      w.postMessage({ type: 'batch', run: run.run, id, indices: run.batches[id]!, seed: run.seeds[id]!, augment: run.augment } satisfies WorkerRequest);
    }
  }

  /**
   * One pass over `batches`. Per-batch seeds come from the loader's seeded stream (or from `seed` when given),
   * so a resumed run that passes the same seed sees the same pixels.
   */
  async *epoch(batches: readonly Int32Array[], options: { seed?: number; augment?: AugmentSpec } = {}): AsyncGenerator<Batch> {
    if (this.closed) throw new HierError('LOADER_CLOSED', 'epoch() on a closed data loader');
    this.check(batches);
    const rng = options.seed === undefined ? this.seedRng : new Rng(options.seed);
    const seeds = batches.map(() => rng.nextUint32());
    const augment = options.augment ?? this.opts.augment;
    if (this.workerCount === 0) {
      const ahead = Math.max(1, this.opts.prefetch ?? 1);
      const queue: Promise<Batch>[] = [];
      let next = 0;
      const fill = () => {
        while (queue.length < ahead && next < batches.length) {
          const p = this.inProcess(batches[next]!, seeds[next]!, augment);
          next++;
          p.catch(() => undefined);
          queue.push(p);
        }
      };
      fill();
      while (queue.length > 0 && !this.closed) {
        const b = await queue.shift()!;
        fill();
        yield b;
      }
      return;
    }
    await this.start();
    const run: Run = { run: ++this.runCounter, batches, seeds, augment, results: new Map(), dispatched: 0, limit: 0 };
    this.current = run;
    const ahead = Math.max(1, this.opts.prefetch ?? 2 * this.workerCount);
    try {
      for (let id = 0; id < batches.length && !this.closed; id++) {
        if (this.failure) throw this.failure;
        run.limit = id + ahead;
        // The workers may all still be busy with an abandoned epoch's batches: wait on a placeholder that
        // pump() fills once one of them is idle again.
        if (!run.results.has(id)) run.results.set(id, deferred());
        this.pump();
        const batch = await run.results.get(id)!.promise;
        run.results.delete(id);
        yield batch;
      }
    } finally {
      if (this.current === run) this.current = null;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    if (!this.opts.batches) throw new HierError('LOADER_CONFIG', 'iterate with loader.epoch(batches) or pass `batches` to createLoader');
    try {
      yield* this.epoch(this.opts.batches);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ws = this.workers;
    this.workers = [];
    this.idle = [];
    await Promise.all(ws.map((w) => w.terminate()));
    this.fail(new HierError('LOADER_CLOSED', 'the data loader was closed'));
  }
}

export function createLoader(opts: LoaderOptions): DataLoader {
  return new DataLoader(opts);
}
