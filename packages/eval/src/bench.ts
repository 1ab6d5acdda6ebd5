/**
 * Exact-kNN benchmark (`pnpm bench`): leave-one-out Recall@[1,10,100,1000] on random 60 502 × 512 float32 (the SOP
 * test size), cosine and Poincaré ranking, timed end to end (search + recall). Anchors: PyTorch blocked matmul +
 * topk and the matmul-based Poincaré ranking on this CPU (shared/anchors/pytorch-cpu.md §Evaluation).
 * The machine is shared, so each record carries the 1-minute load average seen around the run and the CPU seconds
 * used (a load-independent cost figure).
 */
import os from 'node:os';
import { type BenchRecord, machineInfo, Rng } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { knn, type Similarity } from './knn.js';
import { matrix } from './matrix.js';
import { recallAtK } from './metrics.js';
import { randomBallPoints } from './testing.js';

const ANCHOR_SOURCE = 'PyTorch CPU exact kNN on 60502x512, 2 threads (shared/anchors/pytorch-cpu.md; faiss IndexFlatIP 42.3 s)';
const CASES: { sim: Similarity; anchor: number }[] = [
  { sim: 'cosine', anchor: 34.9 },
  { sim: 'poincare', anchor: 53.5 },
];

export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const choice = await initBackend('wasm');
  const n = options.quick ? 8000 : 60502;
  const d = 512;
  const ks = [1, 10, 100, 1000];
  const rng = new Rng(60502);
  // Ball points (norms up to 0.95 of the radius) serve both rankings; cosine ignores the norms.
  const x = matrix(randomBallPoints(rng, n, d, 0.1, 0.95), d);
  const labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 5.35));
  const records: BenchRecord[] = [];
  for (const c of CASES) {
    const id = `knn.recall.60502x512.${c.sim}`;
    const load0 = os.loadavg()[0]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    // As `evaluate` does: Recall@K needs only the neighbour order, so no per-result arcosh (the PyTorch anchor
    // ranks by the same matmul key with topk).
    const r = await knn(x, null, { k: 1000, similarity: c.sim, c: 0.1, workers: 'auto', scores: 'ranking-key' });
    const rec = recallAtK(r, labels, labels, ks);
    const seconds = (performance.now() - t0) / 1000;
    // CPU time of this process and its worker threads: unlike wall time it barely changes with foreign load, so
    // cpuSeconds / workers estimates the wall time on an idle machine.
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const load1 = os.loadavg()[0]!;
    options.log(
      `${id}: ${seconds.toFixed(1)} s (n=${n}, workers=${r.engine.workers}, cpu ${cpuSeconds.toFixed(1)} s, load ${load0.toFixed(1)}→${load1.toFixed(1)})`,
    );
    records.push({
      id,
      value: seconds,
      unit: 's',
      params: {
        n,
        d,
        k: 1000,
        ks,
        quick: options.quick,
        workers: r.engine.workers,
        threadSeconds: r.engine.profile,
        cpuSeconds,
        recall: rec,
        loadAvg1m: [load0, load1],
        peakRssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
      backend: r.engine.backend || choice.backend,
      machine: machineInfo(),
      ...(options.quick ? {} : { anchor: { value: c.anchor, source: ANCHOR_SOURCE }, ratio: seconds / c.anchor }),
      target: '<= 35 s',
    });
  }
  return records;
}
