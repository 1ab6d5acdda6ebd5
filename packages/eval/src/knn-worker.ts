/**
 * One exact-kNN worker: its own wasm instance (wasm is single-threaded in Node, so two workers are how both
 * cores get used). It does what the parent sends, one job at a time, so a core slowed by other load simply takes
 * fewer jobs. Two modes: 'rows' (query rows against a gallery) and 'sym' (leave-one-out tiles, see knn-sym.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GalleryBlocks, SkipMode } from './knn-core.js';
import { type SymShared, SymWorker } from './knn-sym.js';

type Init =
  | { mode: 'rows'; qa: Float32Array; ga: Float32Array; da: number; m: number; k: number; skip: SkipMode; blockRows: number; blockCols: number }
  | ({ mode: 'sym' } & SymShared);

type Job = { rowStart: number; rowEnd: number } | { tile: [number, number] } | { finish: [number, number] } | null;

const port = parentPort;
if (!port) throw new Error('knn-worker.js must run as a worker thread');
const init = workerData as Init;
// The symmetric search runs on the engine's GEMM alone (@hier-ts/engine/simd); only the row search multiplies
// through tfjs, so only it loads tfjs (~0.4 s per worker).
const core = init.mode === 'rows' ? await import('./knn-core.js') : null;
if (init.mode === 'rows') await (await import('@hier-ts/engine')).initBackend('wasm');
const gallery: GalleryBlocks | null = init.mode === 'rows' ? new core!.GalleryBlocks(init.ga, init.m, init.da, init.blockCols) : null;
const sym = init.mode === 'sym' ? new SymWorker(init) : null;

async function run(job: Exclude<Job, null>): Promise<unknown> {
  if ('rowStart' in job && init.mode === 'rows') {
    const res = await core!.searchRows(init.qa, init.da, job.rowStart, job.rowEnd, gallery!, init.k, init.skip, init.blockRows);
    port!.postMessage({ ok: true, res }, [res.idx.buffer as ArrayBuffer, res.key.buffer as ArrayBuffer]);
    return;
  }
  if ('tile' in job) await sym!.tile(job.tile[0], job.tile[1]);
  else if ('finish' in job) await sym!.finish(job.finish[0], job.finish[1]);
  port!.postMessage({ ok: true });
}

// Jobs arrive one at a time (the parent waits for each reply), so no queueing is needed here.
port.on('message', (job: Job) => {
  if (job === null) {
    if (sym) port.postMessage({ profile: sym.profile });
    gallery?.dispose();
    sym?.dispose();
    port.close();
    return;
  }
  run(job).catch((err: unknown) => {
    port.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  });
});
port.postMessage({ ready: true });
