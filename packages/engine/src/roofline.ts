import { Worker } from 'node:worker_threads';
import { HierError } from '@hier-ts/core';
import { relaxedSimdAvailable } from './simd/gemm.js';
import { buildModule, Code, I32, instantiate, V128, wasmApi } from './simd/wasm-builder.js';
import { tf } from './tf.js';

/**
 * How far a training step is from what this CPU can do at all: the multiply-add work a step really runs
 * (`countFlops`) and the fastest rate wasm SIMD can multiply-add here (`measureFmaPeak`). Benchmarks put the two
 * side by side, so a speed target can be checked against the hardware, not only against another library.
 */

/** Floating-point operations (a multiply-add counts 2) of one kernel call, from its inputs and attributes. */
function kernelFlops(name: string, inputs: Record<string, tf.TensorInfo | undefined>, attrs: Record<string, unknown>): number {
  const size = (t: tf.TensorInfo | undefined) => (t ? t.shape.reduce((a, b) => a * b, 1) : 0);
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      // 2 · (output pixels · co) · (kh · kw · ci); the output size comes from the geometry, not from a run.
      const x = inputs.x!;
      const f = inputs.filter!;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        f.shape as [number, number, number, number],
        attrs.strides as number | [number, number],
        (attrs.dilations as number | [number, number] | undefined) ?? 1,
        attrs.pad as 'valid' | 'same' | number,
        attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
      );
      return 2 * info.batchSize * info.outHeight * info.outWidth * size(f);
    }
    case 'Conv2DBackpropInput':
      // Every dy element meets kh · kw · ci filter taps.
      return (2 * size(inputs.dy) * size(inputs.filter)) / (inputs.filter!.shape[3] as number);
    case 'Conv2DBackpropFilter': {
      const fs = attrs.filterShape as number[];
      return 2 * size(inputs.dy) * (fs[0]! * fs[1]! * fs[2]!);
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const a = inputs.a!;
      const b = inputs.b!;
      const ra = a.shape.length;
      const rb = b.shape.length;
      const m = a.shape[attrs.transposeA ? ra - 1 : ra - 2]!;
      const k = a.shape[attrs.transposeA ? ra - 2 : ra - 1]!;
      const n = b.shape[attrs.transposeB ? rb - 2 : rb - 1]!;
      const batch = Math.max(size(a) / (m * k), size(b) / (k * n));
      return 2 * batch * m * k * n;
    }
    default:
      return 0;
  }
}

/** What `countFlops` measured. */
export interface FlopCount<T> {
  result: T;
  /** Floating-point operations of the convolutions and matrix products the function ran (multiply-add = 2). */
  flops: number;
  /** The same, per kernel name. */
  byKernel: Record<string, number>;
}

/**
 * Runs `fn` and counts the floating-point operations of the convolutions (forward, input and filter gradients) and
 * matrix products it asks the tfjs engine for, autograd's backward pass included. Only calls made from outside a
 * kernel count: the products our wasm kernels run inside a convolution are that convolution's own work. Element-wise
 * ops, reductions and normalisations are not counted (a few percent of a training step). Convolutions are counted
 * as direct convolutions (the usual convention, and what the step asks for whatever the kernel): where a kernel does
 * less arithmetic (Winograd), the rate this count implies is an effective rate, above what the kernel executes.
 */
export async function countFlops<T>(fn: () => T | Promise<T>): Promise<FlopCount<T>> {
  const engine = tf.engine() as unknown as { runKernel: (name: string, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, unknown>) => unknown };
  const original = engine.runKernel;
  if ((original as { hierFlopCounter?: boolean }).hierFlopCounter) throw new HierError('E_FLOPS', 'countFlops cannot be nested');
  const byKernel: Record<string, number> = {};
  let depth = 0;
  const counting = function (this: unknown, name: string, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, unknown>) {
    if (depth === 0) {
      const f = kernelFlops(name, inputs, attrs ?? {});
      if (f > 0) byKernel[name] = (byKernel[name] ?? 0) + f;
    }
    depth++;
    try {
      return original.call(this, name, inputs, attrs);
    } finally {
      depth--;
    }
  };
  (counting as { hierFlopCounter?: boolean }).hierFlopCounter = true;
  engine.runKernel = counting;
  try {
    const result = await fn();
    return { result, flops: Object.values(byKernel).reduce((a, b) => a + b, 0), byKernel };
  } finally {
    engine.runKernel = original;
  }
}

/** Independent accumulators of the peak loop: enough to cover the FMA latency on both FMA ports. */
const PEAK_ACCUMULATORS = 12;

/** `peak(iterations)`: PEAK_ACCUMULATORS independent f32x4 multiply-adds per iteration, all in registers. */
function peakModule(): Uint8Array {
  const A = PEAK_ACCUMULATORS;
  const [mul, add] = [A + 1, A + 2];
  const c = new Code();
  for (let i = 0; i < A; i++) c.f32x4Const(0.001 * i).set(1 + i);
  // x ← 0.9999999·x + 1e-7 converges to 1: no overflow or denormals however long it runs.
  c.f32x4Const(0.9999999).set(mul);
  c.f32x4Const(1e-7).set(add);
  c.block().loop();
  for (let i = 0; i < A; i++) c.get(1 + i).get(mul).get(add).f32x4RelaxedMadd().set(1 + i);
  c.get(0).i32(1).sub().tee(0).eqz().brIf(1).br(0).end().end();
  // Stored so the loop's results are live.
  for (let i = 0; i < A; i++) c.i32(16 * i).get(1 + i).v128Store();
  return buildModule([{ name: 'peak', params: [I32], results: [], locals: new Array(A + 2).fill(V128), body: c }], 1);
}

/** The worker side of `measureFmaPeak` (a CommonJS string: eval workers cannot import our modules). */
const PEAK_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
const memory = new WebAssembly.Memory({ initial: 1 });
const { peak } = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes), { env: { memory } }).exports;
peak(workerData.warmup);
const best = [];
for (let r = 0; r < workerData.rounds; r++) {
  const t0 = process.hrtime.bigint();
  peak(workerData.iterations);
  best.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
parentPort.postMessage(best);
`;

/** What `measureFmaPeak` measured. */
export interface FmaPeak {
  /** GFLOP/s of all threads together (best round of each thread, summed). */
  gflops: number;
  threads: number;
  perThread: number[];
  /** The instruction measured. */
  instruction: 'f32x4.relaxed_madd';
}

/**
 * The fastest float32 multiply-add rate of wasm SIMD on this machine: a loop of independent register-only
 * `f32x4.relaxed_madd`s (V8 emits one vfmadd per instruction) in `threads` worker threads at once, no memory
 * traffic at all. No real kernel reaches it (loads, packing and loop control share the same ports), so it is the
 * ceiling every wasm training step here lives under. `threads` defaults to the number of CPU cores.
 */
export async function measureFmaPeak(options: { threads?: number; seconds?: number } = {}): Promise<FmaPeak> {
  if (!relaxedSimdAvailable()) throw new HierError('E_FLOPS', 'relaxed SIMD (f32x4.relaxed_madd) is not available in this Node; the FMA peak cannot be measured');
  const os = await import('node:os');
  const threads = Math.max(1, options.threads ?? os.cpus().length);
  const bytes = peakModule();
  // Calibrate one round to ~`seconds`/3 on this thread (a rough single-thread rate is enough to size the loop).
  const probe = instantiate(bytes, new wasmApi.Memory({ initial: 1 })) as { peak: (n: number) => void };
  probe.peak(1e6);
  const t0 = process.hrtime.bigint();
  probe.peak(2e6);
  const perIteration = Number(process.hrtime.bigint() - t0) / 1e9 / 2e6;
  const iterations = Math.max(1e5, Math.round((options.seconds ?? 0.6) / 3 / perIteration));
  const flopsPerRound = iterations * PEAK_ACCUMULATORS * 8;
  const runs = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number[]>((resolve, reject) => {
          const w = new Worker(PEAK_WORKER, { eval: true, workerData: { bytes, iterations, warmup: Math.round(iterations / 4), rounds: 3 } });
          w.once('message', (m: number[]) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
  const perThread = runs.map((secs) => flopsPerRound / Math.min(...secs) / 1e9);
  return { gflops: perThread.reduce((a, b) => a + b, 0), threads, perThread, instruction: 'f32x4.relaxed_madd' };
}

/** What a benchmark record says about a training step against the FMA peak (`rooflineFigures`). */
export interface RooflineFigures {
  gflopPerImage: number;
  /** GFLOP/s the step sustains (direct-convolution count, so an effective rate where Winograd runs). */
  achievedGflops: number;
  fmaPeakGflops: number;
  achievedFractionOfPeak: number;
  targetImagesPerSecond?: number;
  /** GFLOP/s a step at the target rate would have to sustain; above the peak, no wasm kernel here can reach it. */
  targetGflops?: number;
  targetFractionOfPeak?: number;
}

/**
 * A step's work per image and rate against the FMA peak (`measureFmaPeak`): the GFLOP/s it sustains and, with a
 * target rate, what that target would have to sustain. Rounded for benchmark records.
 */
export function rooflineFigures(o: { gflopPerImage: number; imagesPerSecond: number; peakGflops: number; targetImagesPerSecond?: number }): RooflineFigures {
  const r = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
  const achieved = o.gflopPerImage * o.imagesPerSecond;
  const figures: RooflineFigures = {
    gflopPerImage: r(o.gflopPerImage, 3),
    achievedGflops: r(achieved),
    fmaPeakGflops: r(o.peakGflops),
    achievedFractionOfPeak: r(achieved / o.peakGflops, 3),
  };
  if (o.targetImagesPerSecond !== undefined) {
    const target = o.gflopPerImage * o.targetImagesPerSecond;
    Object.assign(figures, { targetImagesPerSecond: r(o.targetImagesPerSecond, 2), targetGflops: r(target), targetFractionOfPeak: r(target / o.peakGflops, 3) });
  }
  return figures;
}
