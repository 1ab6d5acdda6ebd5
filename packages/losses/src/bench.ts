/**
 * HIER loss benchmarks (`pnpm bench`): forward + backward of HIER on ball embeddings (B×D) with N = 512
 * proxies, topk 20, seeded mining and Gumbel noise, on the wasm backend. Anchors: the official PyTorch loss on
 * this CPU (/work/shared/anchors/pytorch-cpu.md).
 */
import { type BenchRecord, Rng, machineInfo, timeMedian } from '@hier-ts/core';
import { initBackend, tf } from '@hier-ts/engine';
import { toPoincare } from '@hier-ts/hyperbolic';
import { HIERLoss } from './hier.js';

const ANCHOR_SOURCE = 'PyTorch CPU official HIERLoss fwd+bwd, threads=2 (shared/anchors/pytorch-cpu.md)';
const CASES = [
  { id: 'hier-loss.fwd-bwd.b90.d128', batch: 90, dim: 128, anchor: 1.376 },
  { id: 'hier-loss.fwd-bwd.b90.d512', batch: 90, dim: 512, anchor: 4.725 },
  { id: 'hier-loss.fwd-bwd.b180.d128', batch: 180, dim: 128, anchor: undefined },
] as const;

export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const choice = await initBackend('wasm');
  const records: BenchRecord[] = [];
  const numProxies = 512;
  const topk = 20;
  const runs = options.quick ? 5 : 7;
  for (const c of CASES) {
    const rng = new Rng(1);
    const loss = new HIERLoss({ numProxies, dim: c.dim, topk, rng });
    const raw = tf.randomNormal([c.batch, c.dim], 0, 1, 'float32', 11);
    const z = tf.variable(toPoincare(raw, { c: 0.1, clipR: 2.3, riemannian: true }) as tf.Tensor2D, true, `bench.z.${c.id}`);
    const labels = tf.tensor1d(Array.from({ length: c.batch }, (_, i) => Math.floor(i / 2)), 'int32');
    let peakTensorBytes = 0;
    let peakRss = 0;
    const step = async () => {
      const { value, grads } = tf.variableGrads(() => loss.compute(z, labels));
      await value.data();
      await Promise.all(Object.values(grads).map((g) => g.data()));
      peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      tf.dispose([value, ...Object.values(grads)]);
    };
    const t = await timeMedian(step, runs, 1);
    const rec: BenchRecord = {
      id: c.id,
      value: t.median,
      unit: 's',
      params: {
        batch: c.batch,
        dim: c.dim,
        numProxies,
        topk,
        tripletsPerAnchor: 50,
        runs,
        min: t.min,
        batchTriplets: loss.lastParts?.batchTriplets,
        proxyTriplets: loss.lastParts?.proxyTriplets,
        peakRssMB: Math.round(peakRss / 2 ** 20),
        peakTensorMB: Math.round(peakTensorBytes / 2 ** 20),
      },
      backend: choice.backend,
      machine: machineInfo(),
      ...(c.anchor !== undefined ? { anchor: { value: c.anchor, source: ANCHOR_SOURCE }, ratio: t.median / c.anchor } : {}),
      ...(c.id === 'hier-loss.fwd-bwd.b90.d128' ? { target: '<= 0.69 s (half the PyTorch anchor)' } : {}),
    };
    records.push(rec);
    options.log(`${c.id}: ${t.median.toFixed(3)} s${rec.ratio !== undefined ? ` (${rec.ratio.toFixed(2)}× the PyTorch anchor)` : ''}`);
    tf.dispose([raw, z, labels]);
    loss.dispose();
  }
  return records;
}
