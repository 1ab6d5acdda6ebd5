import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { HierError, resolveWorkerUrl, workerExecArgv } from '@hier-ts/core';
import { tf } from '@hier-ts/engine';
import { GalleryBlocks, type RowsResult, type SkipMode, searchRows, searchRowsOnDevice } from './knn-core.js';
import { type SymShared, SymWorker, symTileOrder } from './knn-sym.js';
import { keysToScoresRows, scoreKindOf } from './knn-score.js';
import { MAX_GALLERY_ROWS, topkCapacity } from './topk.js';
import { type Matrix, type MatrixLike, rowSqNorms, toMatrix } from './matrix.js';

/**
 * How neighbours are ranked. 'poincare' = negative geodesic distance between ball points (the official HIER
 * evaluation), 'cosine', 'euclidean' (negative L2 distance), 'dot'.
 */
export type Similarity = 'poincare' | 'cosine' | 'euclidean' | 'dot';
export const SIMILARITIES: readonly Similarity[] = ['poincare', 'cosine', 'euclidean', 'dot'];

export interface KnnOptions {
  k: number;
  similarity: Similarity;
  /** Ball curvature magnitude for 'poincare' (HIER: hyp_c = 0.1). */
  c?: number;
  /**
   * Never return gallery index i for query row i. Default: true when no separate gallery is given
   * (leave-one-out), false otherwise. With a separate gallery, true reproduces the official In-shop
   * masked-by-position behaviour (spec §6 SURPRISE).
   */
  excludeSameIndex?: boolean;
  /** Worker threads: 'auto' (2 when the job is big and the backend is wasm/cpu), or a count (0 = in-process). */
  workers?: number | 'auto';
  /** Query rows per block (the tile size of the symmetric leave-one-out search). */
  blockRows?: number;
  blockCols?: number;
  /**
   * Leave-one-out only: multiply each tile X_I·X_Jᵀ once and use it for both row blocks (half the matmul work).
   * Default true; false uses the plain row-block search (same results).
   */
  symmetric?: boolean;
  /**
   * Symmetric search only: after a row's first tile, raise its threshold to a guess of its final k-th best (the
   * expected count of final top-k items among the seen scores plus this many standard deviations). Cuts the
   * candidates each row takes from ~k·(1 + ln(n/k)) to ~1.7k; a row whose guess turns out too high is searched
   * again, so results are exact either way. Default 4; false = off.
   */
  thresholdGuess?: number | false;
  /**
   * What `scores` holds. 'similarity' (default): the similarity asked for (Poincaré −distance, …). 'ranking-key':
   * the inner product the search ranks by — same order within each query row, but not comparable across rows
   * (cosine/dot: the similarity itself; euclidean −‖x−y‖² + ‖x‖²; Poincaré −‖x−y‖²/(1−c‖y‖²)). Recall@K, MAP@R and
   * everything else that only needs the neighbour order can skip the conversion (an arcosh per result for Poincaré:
   * ~1.4 CPU-s for 60 502 × 1000).
   */
  scores?: 'similarity' | 'ranking-key';
  /** Receives warnings (K clipped, …) in addition to `result.warnings`. */
  warn?: (msg: string) => void;
}

export interface KnnResult {
  /** Neighbours per query (after clipping to the gallery size). */
  k: number;
  rows: number;
  similarity: Similarity;
  /** [rows, k] gallery indices, best first; −1 marks "no more candidates". */
  indices: Int32Array;
  /**
   * [rows, k] similarities (for 'poincare': −distance, closed arcosh form; 'euclidean': −‖x−y‖), or with
   * `scores: 'ranking-key'` the per-row ranking keys (see `KnnOptions.scores`).
   */
  scores: Float32Array;
  scoreKind: 'similarity' | 'ranking-key';
  excludedSameIndex: boolean;
  warnings: string[];
  /** How the search ran, for logs and benchmarks. */
  engine: { backend: string; workers: number; seconds: number; profile?: KnnProfile };
}

/** Thread-seconds in matmul + read-back, top-k selection and final sort; rows re-searched after a failed guess. */
export interface KnnProfile {
  matmul: number;
  select: number;
  finish: number;
  retried: number;
}

interface Augmented {
  qa: Float32Array;
  ga: Float32Array;
  da: number;
  qNorm2: Float64Array;
}

/**
 * Maps every similarity to a plain inner product of augmented rows, so the whole search is matmul + selection:
 * - cosine: unit rows; dot: raw rows;
 * - euclidean: [x, 1]·[2y, −‖y‖²] = −‖x−y‖² + ‖x‖² (monotone for fixed x);
 * - poincare: for fixed x the geodesic distance (1/√c)·arcosh(1 + 2c‖x−y‖²/((1−c‖x‖²)(1−c‖y‖²))) is monotone in
 *   ‖x−y‖²·w_y with w_y = 1/(1−c‖y‖²), and −‖x−y‖²·w_y = [x, ‖x‖², 1]·[2w_y·y, −w_y, −w_y‖y‖²].
 * The closed form has no Möbius 1e−5 epsilon (spec §1.5), so ranks can differ from the official dist_matrix only
 * at near-ties (relative score gaps ≲ 1e−5).
 */
function augment(q: Matrix, g: Matrix, sim: Similarity, c: number): Augmented {
  const d = q.dim;
  const qn = rowSqNorms(q);
  const gn = g === q ? qn : rowSqNorms(g);
  const extra = sim === 'poincare' ? 2 : sim === 'euclidean' ? 1 : 0;
  const da = d + extra;
  const qa = new Float32Array(q.rows * da);
  const ga = new Float32Array(g.rows * da);
  for (let i = 0; i < q.rows; i++) {
    const s = sim === 'cosine' ? (qn[i]! > 0 ? 1 / Math.sqrt(qn[i]!) : 0) : 1;
    for (let j = 0; j < d; j++) qa[i * da + j] = q.data[i * d + j]! * s;
    if (sim === 'euclidean') qa[i * da + d] = 1;
    if (sim === 'poincare') {
      qa[i * da + d] = qn[i]!;
      qa[i * da + d + 1] = 1;
    }
  }
  for (let i = 0; i < g.rows; i++) {
    const y2 = gn[i]!;
    let s = 1;
    if (sim === 'cosine') s = y2 > 0 ? 1 / Math.sqrt(y2) : 0;
    else if (sim === 'euclidean') s = 2;
    else if (sim === 'poincare') s = 2 / (1 - c * y2);
    for (let j = 0; j < d; j++) ga[i * da + j] = g.data[i * d + j]! * s;
    if (sim === 'euclidean') ga[i * da + d] = -y2;
    if (sim === 'poincare') {
      const w = 1 / (1 - c * y2);
      ga[i * da + d] = -w;
      ga[i * da + d + 1] = -w * y2;
    }
  }
  return { qa, ga, da, qNorm2: qn };
}

function checkInsideBall(m: Matrix, norms: Float64Array, c: number, what: string): void {
  const bad: number[] = [];
  for (let i = 0; i < m.rows; i++) if (!(c * norms[i]! < 1)) bad.push(i);
  if (bad.length) {
    throw new HierError(
      'E_BALL',
      `${what}: ${bad.length} row(s) lie outside the Poincaré ball of curvature c=${c} (‖x‖ ≥ ${(1 / Math.sqrt(c)).toFixed(4)}), ` +
        `first rows: ${bad.slice(0, 10).join(', ')}. Pass ball embeddings (after ToPoincare) or use similarity 'cosine'.`,
    );
  }
}

/**
 * Exact k-nearest-neighbour search of every query row in the gallery (or, with `gallery` null, leave-one-out
 * within `query`). Blocked: never materialises the n×m score matrix; on wasm/cpu big jobs use 2 worker threads
 * with their own wasm instance; on 'tensorflow'/'webgpu' backends the top-k runs on the device.
 */
export async function knn(query: MatrixLike, gallery: MatrixLike | null, options: KnnOptions): Promise<KnnResult> {
  const t0 = performance.now();
  const sim = options.similarity;
  if (!SIMILARITIES.includes(sim)) throw new HierError('E_ARG', `knn: unknown similarity '${String(sim)}'; expected ${SIMILARITIES.join(', ')}`);
  const c = options.c ?? 0.1;
  if (sim === 'poincare' && !(c > 0)) throw new HierError('E_ARG', `knn: curvature c must be > 0 for 'poincare', got ${c}`);
  const q = await toMatrix(query, gallery === null ? 'embeddings' : 'query embeddings');
  const g = gallery === null ? q : await toMatrix(gallery, 'gallery embeddings');
  if (g.dim !== q.dim) throw new HierError('E_SHAPE', `knn: query dim ${q.dim} differs from gallery dim ${g.dim}`);
  const exclude = options.excludeSameIndex ?? gallery === null;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.warn?.(m);
  };
  if (!Number.isInteger(options.k) || options.k < 1) throw new HierError('E_ARG', `knn: k must be a positive integer, got ${options.k}`);
  const available = exclude && gallery === null ? g.rows - 1 : g.rows;
  if (available < 1) throw new HierError('E_EMPTY', `knn: the gallery has no candidates (${g.rows} row(s)${exclude ? ', self excluded' : ''})`);
  if (g.rows > MAX_GALLERY_ROWS && !onDeviceBackend()) {
    throw new HierError('E_TOO_LARGE', `knn: the gallery has ${g.rows} rows; the CPU search supports up to ${MAX_GALLERY_ROWS} (use a GPU backend)`);
  }
  let k = options.k;
  if (k > available) {
    warn(`knn: k=${k} is larger than the ${available} available gallery items; clipped to ${available}`);
    k = available;
  }
  const qNorm2 = rowSqNorms(q);
  if (sim === 'poincare') {
    checkInsideBall(q, qNorm2, c, gallery === null ? 'embeddings' : 'query embeddings');
    if (g !== q) checkInsideBall(g, rowSqNorms(g), c, 'gallery embeddings');
  }
  const skip: SkipMode = exclude ? 'same-index' : 'none';
  if (options.scores !== undefined && options.scores !== 'similarity' && options.scores !== 'ranking-key') {
    throw new HierError('E_ARG', `knn: scores must be 'similarity' or 'ranking-key', got ${String(options.scores)}`);
  }
  const rankingKeys = options.scores === 'ranking-key';
  const backend = tf.getBackend();
  const onDevice = onDeviceBackend();
  const symmetric = gallery === null && exclude && !onDevice && options.symmetric !== false;
  const blockRows = options.blockRows ?? (onDevice ? 2048 : symmetric ? SYM_TILE : 256);
  const blockCols = options.blockCols ?? 8192;
  const work = symmetric ? (q.rows * g.rows * q.dim) / 2 : q.rows * g.rows * q.dim;
  let nWorkers = 0;
  if (!onDevice) {
    if (options.workers === 'auto' || options.workers === undefined) {
      nWorkers = work >= 1e10 ? Math.min(2, os.availableParallelism()) : 0;
    } else {
      nWorkers = Math.max(0, Math.floor(options.workers));
    }
    nWorkers = Math.min(nWorkers, Math.ceil(q.rows / blockRows));
    if (nWorkers > 0 && (options.workers === 'auto' || options.workers === undefined)) {
      try {
        resolveWorkerUrl(import.meta.url, './knn-worker.js');
      } catch {
        warn('knn: dist/knn-worker.js is not built (run `npx tsc -b` in packages/eval); searching on one thread');
        nWorkers = 0;
      }
    }
  }
  let idx: Int32Array;
  let key: Float32Array;
  const profile: KnnProfile = { matmul: 0, select: 0, finish: 0, retried: 0 };
  if (symmetric) {
    const guess = options.thresholdGuess ?? 4;
    const shared = symShared(q, qNorm2, sim, c, k, blockRows, nWorkers > 0, guess === false ? null : guess, rankingKeys);
    if (nWorkers > 0) {
      try {
        await runSymWorkers(shared, nWorkers, profile);
      } finally {
        releaseSharedKeys(shared.state.keys);
      }
    } else {
      const w = new SymWorker(shared);
      try {
        for (const [I, J] of symTileOrder(w.blocks)) await w.tile(I, J);
        await w.finish(0, q.rows);
        Object.assign(profile, w.profile);
      } finally {
        w.dispose();
      }
    }
    // Copies out of shared memory so callers get ordinary (transferable, Buffer-compatible) arrays.
    idx = nWorkers > 0 ? shared.outIdx.slice() : shared.outIdx;
    key = nWorkers > 0 ? shared.outKey.slice() : shared.outKey;
  } else {
    const aug = augment(q, g, sim, c);
    idx = new Int32Array(q.rows * k);
    key = new Float32Array(q.rows * k);
    const place = (r: RowsResult) => {
      idx.set(r.idx, r.rowStart * k);
      key.set(r.key, r.rowStart * k);
    };
    if (nWorkers > 0) {
      await runWorkers(aug, g.rows, k, skip, blockRows, blockCols, nWorkers, q.rows, place);
    } else if (onDevice) {
      const gt = tf.tidy(() => tf.transpose(tf.tensor2d(aug.ga, [g.rows, aug.da])) as tf.Tensor2D);
      try {
        place(await searchRowsOnDevice(aug.qa, aug.da, 0, q.rows, gt, k, skip, blockRows));
      } finally {
        gt.dispose();
      }
    } else {
      const blocks = new GalleryBlocks(aug.ga, g.rows, aug.da, blockCols);
      try {
        place(await searchRows(aug.qa, aug.da, 0, q.rows, blocks, k, skip, blockRows));
      } finally {
        blocks.dispose();
      }
    }
  }
  // The symmetric search's workers already turned their rows' keys into scores (in parallel, in `finish`).
  const scores = symmetric || rankingKeys ? key : keysToScores(key, idx, k, qNorm2, sim, c);
  return {
    k,
    rows: q.rows,
    similarity: sim,
    indices: idx,
    scores,
    scoreKind: rankingKeys ? 'ranking-key' : 'similarity',
    excludedSameIndex: exclude,
    warnings,
    engine: {
      backend: nWorkers > 0 ? 'wasm (workers)' : backend,
      workers: nWorkers,
      seconds: (performance.now() - t0) / 1000,
      ...(symmetric ? { profile } : {}),
    },
  };
}

/**
 * Tile edge of the symmetric leave-one-out search. XNNPACK's matmul reaches the same GFLOP/s for 1024² and 2048²
 * tiles on this machine (22.6 vs 24.2 GF per CPU-second with K = 512), and 2048 quarters the number of tiles, read-backs
 * and per-tile row sweeps; 16 MB per tile read-back stays small next to the top-k state.
 */
const SYM_TILE = 2048;

function onDeviceBackend(): boolean {
  const b = tf.getBackend();
  return b === 'tensorflow' || b === 'webgpu' || b === 'webgl';
}

/** Turns augmented inner products back into the similarity the caller asked for. */
function keysToScores(key: Float32Array, idx: Int32Array, k: number, qn2: Float64Array, sim: Similarity, c: number): Float32Array {
  const kind = scoreKindOf(sim);
  if (kind === 'key') return key;
  const out = new Float32Array(key.length);
  keysToScoresRows(key, idx, out, 0, key.length / k, k, qn2, kind, c);
  return out;
}

/**
 * The worker search's candidate keys (n·(2k+32) float64: ~1 GB for SOP's 60 502 rows) are handed to the next
 * search while the garbage collector has not yet freed them. Measured here: a second SOP-sized search in the same
 * process (every evaluation after the first in a training run) spent ~3 more thread-seconds selecting, unless the
 * first one's buffers had been collected in between. The buffer is internal (results are copied out) and lent to
 * one search at a time; its stale contents are never read (rows start with count 0).
 */
let spareKeys: WeakRef<SharedArrayBuffer> | undefined;
let spareKeysLent = false;

function acquireSharedKeys(length: number): Float64Array {
  const spare = spareKeysLent ? undefined : spareKeys?.deref();
  if (spare && spare.byteLength >= length * 8 && spare.byteLength <= length * 16) {
    spareKeysLent = true;
    return new Float64Array(spare, 0, length);
  }
  const fresh = new SharedArrayBuffer(length * 8);
  if (!spareKeysLent) {
    spareKeys = new WeakRef(fresh);
    spareKeysLent = true;
  }
  return new Float64Array(fresh);
}

function releaseSharedKeys(keys: Float64Array): void {
  if (keys.buffer === spareKeys?.deref()) spareKeysLent = false;
}

/** Shared inputs/state of the symmetric search: one copy in (shared) memory for all threads. */
function symShared(
  x: Matrix,
  x2: Float64Array,
  sim: Similarity,
  c: number,
  k: number,
  tile: number,
  shared: boolean,
  guessSigmas: number | null,
  rankingKeys: boolean,
): SymShared {
  const n = x.rows;
  const d = x.dim;
  const f32 = (len: number) => (shared ? new Float32Array(new SharedArrayBuffer(len * 4)) : new Float32Array(len));
  const i32 = (len: number) => (shared ? new Int32Array(new SharedArrayBuffer(len * 4)) : new Int32Array(len));
  const xs = f32(n * d);
  if (sim === 'cosine') {
    for (let i = 0; i < n; i++) {
      const s = x2[i]! > 0 ? 1 / Math.sqrt(x2[i]!) : 0;
      for (let j = 0; j < d; j++) xs[i * d + j] = x.data[i * d + j]! * s;
    }
  } else xs.set(x.data);
  const xx = f32(n);
  for (let i = 0; i < n; i++) xx[i] = x2[i]!;
  const qNorm2 = shared ? new Float64Array(new SharedArrayBuffer(n * 8)) : new Float64Array(n);
  qNorm2.set(x2);
  const wBall = f32(n);
  for (let i = 0; i < n; i++) wBall[i] = sim === 'poincare' ? 1 / (1 - c * x2[i]!) : 1;
  const cap = topkCapacity(k);
  const thr = f32(n);
  thr.fill(Number.NEGATIVE_INFINITY);
  const outIdx = i32(n * k);
  outIdx.fill(-1);
  const outKey = f32(n * k);
  outKey.fill(Number.NEGATIVE_INFINITY);
  const guess = f32(n);
  guess.fill(Number.NaN);
  return {
    x: xs,
    n,
    d,
    tile,
    k,
    x2: xx,
    kind: sim === 'euclidean' ? 1 : sim === 'poincare' ? 2 : 0,
    wBall,
    qNorm2,
    scoreKind: rankingKeys ? 'key' : scoreKindOf(sim),
    c,
    state: { cap, keys: shared ? acquireSharedKeys(n * cap) : new Float64Array(n * cap), count: i32(n), thr, guess },
    guessSigmas,
    outIdx,
    outKey,
  };
}

/**
 * Runs the symmetric search on worker threads. Tiles (I ≤ J) are handed out one at a time, never two at once that
 * share a row block (the shared per-row state has no locks); then the rows are sorted in parallel.
 */
async function runSymWorkers(shared: SymShared, nWorkers: number, profile: KnnProfile): Promise<void> {
  const url = resolveWorkerUrl(import.meta.url, './knn-worker.js');
  const B = Math.ceil(shared.n / shared.tile);
  const tiles = symTileOrder(B);
  const done = new Uint8Array(tiles.length);
  const busy = new Uint8Array(B);
  let firstOpen = 0;
  let remaining = tiles.length;
  const finishJobs: [number, number][] = [];
  const step = Math.max(256, Math.ceil(shared.n / (nWorkers * 8)));
  for (let r = 0; r < shared.n; r += step) finishJobs.push([r, Math.min(shared.n, r + step)]);
  let finishNext = 0;
  let finishDone = 0;
  const taken = new Uint8Array(tiles.length);
  const idle: ((job: { tile: [number, number]; t: number } | { finish: [number, number] } | null) => void)[] = [];
  const nextJob = (): { tile: [number, number]; t: number } | { finish: [number, number] } | null | undefined => {
    if (remaining > 0) {
      while (firstOpen < tiles.length && taken[firstOpen]) firstOpen++;
      for (let t = firstOpen; t < tiles.length; t++) {
        if (taken[t]) continue;
        const [I, J] = tiles[t]!;
        if (busy[I] || busy[J]) continue;
        taken[t] = 1;
        busy[I] = 1;
        busy[J] = 1;
        return { tile: [I, J], t };
      }
      return undefined; // wait until a tile finishes and frees its blocks
    }
    if (finishNext < finishJobs.length) return { finish: finishJobs[finishNext++]! };
    return finishDone === finishJobs.length ? null : undefined;
  };
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: nWorkers }, () =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(url, { workerData: { mode: 'sym', ...shared }, execArgv: workerExecArgv() });
          workers.push(w);
          let current: { tile: [number, number]; t: number } | { finish: [number, number] } | null = null;
          let finished = false;
          const send = (job: { tile: [number, number]; t: number } | { finish: [number, number] } | null) => {
            current = job;
            if (job === null) {
              finished = true;
              w.postMessage(null);
            } else if ('tile' in job) w.postMessage({ tile: job.tile });
            else w.postMessage(job);
          };
          const give = () => {
            const job = nextJob();
            if (job === undefined) idle.push(send);
            else send(job);
            // Wake waiting workers: a finished tile may have freed their blocks, or the tile phase may be over.
            while (idle.length) {
              const j = nextJob();
              if (j === undefined) break;
              idle.shift()!(j);
            }
          };
          w.on('message', (msg: { ready?: boolean; ok?: boolean; error?: string; profile?: typeof profile }) => {
            if (msg.ready) return give();
            if (msg.profile) {
              // Summed over workers: thread-seconds, not wall time.
              profile.matmul += msg.profile.matmul;
              profile.select += msg.profile.select;
              profile.finish += msg.profile.finish;
              profile.retried += msg.profile.retried;
              return;
            }
            if (!msg.ok) return reject(new HierError('E_KNN_WORKER', `knn worker failed: ${msg.error}`));
            const job = current as { tile: [number, number]; t: number } | { finish: [number, number] } | null;
            if (job && 'tile' in job) {
              busy[job.tile[0]] = 0;
              busy[job.tile[1]] = 0;
              done[job.t] = 1;
              remaining--;
            } else if (job) finishDone++;
            give();
          });
          w.on('error', (e) => reject(new HierError('E_KNN_WORKER', `knn worker crashed: ${e.message}`, { cause: e })));
          w.on('exit', (code) => (finished ? resolve() : reject(new HierError('E_KNN_WORKER', `knn worker exited early (code ${code})`))));
        }),
      ),
    );
  } finally {
    for (const w of workers) void w.terminate();
  }
}

async function runWorkers(
  aug: Augmented,
  m: number,
  k: number,
  skip: SkipMode,
  blockRows: number,
  blockCols: number,
  nWorkers: number,
  rows: number,
  place: (r: RowsResult) => void,
): Promise<void> {
  const url = resolveWorkerUrl(import.meta.url, './knn-worker.js');
  // Shared buffers: each worker reads the same query/gallery memory instead of receiving a copy.
  const share = (a: Float32Array) => {
    const sab = new SharedArrayBuffer(a.byteLength);
    const v = new Float32Array(sab);
    v.set(a);
    return v;
  };
  const qa = share(aug.qa);
  const ga = share(aug.ga);
  const chunk = Math.max(blockRows, Math.min(4 * blockRows, Math.ceil(rows / (nWorkers * 8) / blockRows) * blockRows));
  let next = 0;
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: nWorkers }, () =>
        new Promise<void>((resolve, reject) => {
          // The worker runs compiled dist/ code: drop a parent's '--conditions @hier-ts/source' (vitest) so its
          // imports resolve to JavaScript, not TypeScript sources.
          const w = new Worker(url, { workerData: { mode: 'rows', qa, ga, da: aug.da, m, k, skip, blockRows, blockCols }, execArgv: workerExecArgv() });
          workers.push(w);
          let pending = false;
          const give = () => {
            if (next >= rows) {
              pending = false;
              w.postMessage(null);
              return;
            }
            const r0 = next;
            next = Math.min(rows, next + chunk);
            pending = true;
            w.postMessage({ rowStart: r0, rowEnd: next });
          };
          w.on('message', (msg: { ready?: boolean; ok?: boolean; res?: RowsResult; error?: string }) => {
            if (msg.ready) return give();
            if (!msg.ok) return reject(new HierError('E_KNN_WORKER', `knn worker failed: ${msg.error}`));
            place(msg.res!);
            give();
          });
          w.on('error', (e) => reject(new HierError('E_KNN_WORKER', `knn worker crashed: ${e.message}`, { cause: e })));
          w.on('exit', (code) => (!pending && next >= rows ? resolve() : reject(new HierError('E_KNN_WORKER', `knn worker exited early (code ${code})`))));
        }),
      ),
    );
  } finally {
    for (const w of workers) void w.terminate();
  }
}
