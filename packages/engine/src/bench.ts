/**
 * Engine benchmarks: GFLOP/s of the wasm training kernels on ResNet-50 layer shapes (batch 16) and of a 1024²
 * matmul, next to the stock wasm kernels they replace. `pnpm bench` collects them; `quick` times each once.
 */
import os from 'node:os';
import { type BenchRecord, machineInfo, timeMedian } from '@hier-ts/core';
import { attention, mergeHeads, splitHeads } from './attention.js';
import { initBackend } from './backend.js';
import { batchNormTrain } from './batch-norm.js';
import { layerNorm } from './layer-norm.js';
import { measureFmaPeak } from './roofline.js';
import { tf } from './tf.js';
import { geometryOf } from './wasm-kernels/conv-gemm.js';
import { convWinogradTileFor } from './wasm-kernels/conv-winograd.js';
import { adoptOutput } from './wasm-kernels/util.js';
import { stockWasmKernel } from './wasm-kernels/stock.js';

interface ConvShape {
  /** Id fragment, e.g. `3x3-64-64-56` (kernel, in, out channels, input size) with `s2` when strided. */
  tag: string;
  k: number;
  ci: number;
  co: number;
  size: number;
  stride: number;
}

/** ResNet-50 layer shapes (torchvision v1.5: the stride sits on the 3×3). */
export const RESNET50_LAYERS: ConvShape[] = [
  { tag: '7x7s2-3-64-224', k: 7, ci: 3, co: 64, size: 224, stride: 2 },
  { tag: '3x3-64-64-56', k: 3, ci: 64, co: 64, size: 56, stride: 1 },
  { tag: '1x1-256-64-56', k: 1, ci: 256, co: 64, size: 56, stride: 1 },
  { tag: '1x1s2-256-512-56', k: 1, ci: 256, co: 512, size: 56, stride: 2 },
  { tag: '3x3s2-128-128-56', k: 3, ci: 128, co: 128, size: 56, stride: 2 },
  { tag: '3x3-256-256-14', k: 3, ci: 256, co: 256, size: 14, stride: 1 },
  { tag: '3x3-512-512-7', k: 3, ci: 512, co: 512, size: 7, stride: 1 },
];

const QUICK_TAGS = new Set(['3x3-64-64-56', '1x1-256-64-56']);

function convGflop(s: ConvShape, batch: number): number {
  const out = Math.ceil(s.size / s.stride);
  return (2 * batch * out * out * s.k * s.k * s.ci * s.co) / 1e9;
}

export async function runBenchmarks(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRecord[]> {
  const { quick, log } = options;
  await initBackend('wasm');
  const backend = tf.getBackend();
  const machine = machineInfo();
  const runs = quick ? 1 : 3;
  const records: BenchRecord[] = [];
  const record = (id: string, gflop: number, seconds: number, params: Record<string, unknown>, target?: string) => {
    const value = Math.round((gflop / seconds) * 10) / 10;
    records.push({ id, value, unit: 'GFLOP/s', params: { ...params, ms: Math.round(seconds * 1e4) / 10, gflop }, backend, machine, ...(target ? { target } : {}) });
    log(`${id.padEnd(52)} ${value.toFixed(1).padStart(6)} GFLOP/s  (${(seconds * 1e3).toFixed(1)} ms)`);
  };

  const batch = 16;
  for (const s of RESNET50_LAYERS) {
    if (quick && !QUICK_TAGS.has(s.tag)) continue;
    const gflop = convGflop(s, batch);
    const x = tf.randomUniform([batch, s.size, s.size, s.ci]) as tf.Tensor4D;
    const w = tf.randomUniform([s.k, s.k, s.ci, s.co], -0.1, 0.1) as tf.Tensor4D;
    const dy = tf.tidy(() => tf.randomUniform(tf.conv2d(x, w, s.stride, 'same').shape)) as tf.Tensor4D;
    const attrs = { strides: [s.stride, s.stride], pad: 'same', dataFormat: 'NHWC' };
    // Which algorithm the dispatch picks (Winograd does fewer multiplies than the direct count used for GFLOP/s, so
    // its figures are effective rates).
    const geometry = geometryOf(tf.backend_util.computeConv2DInfo([batch, s.size, s.size, s.ci], [s.k, s.k, s.ci, s.co], s.stride, 1, 'same'));
    const tile = convWinogradTileFor(geometry);
    const params = {
      batch,
      kernel: s.k,
      inChannels: s.ci,
      outChannels: s.co,
      size: s.size,
      stride: s.stride,
      algorithm: tile ? `winograd F(${tile}x${tile},3x3) (effective GFLOP/s: direct-convolution FLOPs over time)` : 'direct',
    };
    const time = async (fn: () => tf.TensorInfo | tf.Tensor) => (await timeMedian(() => tf.dispose(fn() as tf.Tensor), runs, 1)).median;

    record(`kernel.conv2d.${s.tag}.b${batch}`, gflop, await time(() => tf.conv2d(x, w, s.stride, 'same')), params);
    record(
      `kernel.conv2d-backprop-filter.${s.tag}.b${batch}`,
      gflop,
      await time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor),
      params,
      '≥ 10 GF/s (stock wasm: missing)',
    );
    record(
      `kernel.conv2d-backprop-input.${s.tag}.b${batch}`,
      gflop,
      await time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor),
      params,
      '> stock',
    );
    const stock = stockWasmKernel('Conv2DBackpropInput');
    if (stock && !quick) {
      const b = tf.backend();
      record(
        `kernel.conv2d-backprop-input-stock.${s.tag}.b${batch}`,
        gflop,
        await time(() =>
          adoptOutput(stock.kernelFunc({ inputs: { dy, filter: w }, backend: b, attrs: { ...attrs, inputShape: x.shape } }) as tf.TensorInfo, b),
        ),
        params,
      );
    }
    tf.dispose([x, w, dy]);
  }

  // The ceiling of everything above and below: register-only f32x4.relaxed_madd, one core and all cores at once.
  for (const threads of [1, os.cpus().length]) {
    const peak = await measureFmaPeak({ threads });
    const id = threads === 1 ? 'kernel.fma-peak.1t' : 'kernel.fma-peak';
    const value = Math.round(peak.gflops * 10) / 10;
    records.push({ id, value, unit: 'GFLOP/s', params: { threads, perThread: peak.perThread.map((v) => Math.round(v * 10) / 10), instruction: peak.instruction, memoryTraffic: 'none (registers only)' }, backend, machine });
    log(`${id.padEnd(52)} ${value.toFixed(1).padStart(6)} GFLOP/s  (${threads} thread${threads > 1 ? 's' : ''})`);
  }

  const n = 1024;
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  const mmGflop = (2 * n * n * n) / 1e9;
  record(`kernel.matmul.${n}`, mmGflop, (await timeMedian(() => tf.matMul(a, b).dispose(), quick ? 2 : 5, 1)).median, { n, kernel: 'hier-ts FMA GEMM, 1 thread' });
  tf.dispose([a, b]);

  // The matmul gradient's shapes: Xᵀ·dY with a tall X (a 1×1 conv's filter gradient, ResNet-50 @56, batch 16).
  const rows = 50176;
  const xt = tf.randomUniform([rows, 256]);
  const gy = tf.randomUniform([rows, 64]);
  const tGflop = (2 * rows * 256 * 64) / 1e9;
  record(`kernel.matmul-transpose-a.${rows}x256x64`, tGflop, (await timeMedian(() => tf.matMul(xt, gy, true, false).dispose(), runs, 1)).median, { rows, inner: 256, out: 64 });
  const stockMM = stockWasmKernel('BatchMatMul');
  if (stockMM && !quick) {
    const bk = tf.backend();
    const s = await timeMedian(
      () => adoptOutput(stockMM.kernelFunc({ inputs: { a: xt, b: gy }, backend: bk, attrs: { transposeA: true, transposeB: false } }) as tf.TensorInfo, bk).dispose(),
      runs,
      1,
    );
    record(`kernel.matmul-transpose-a-stock.${rows}x256x64`, tGflop, s.median, { rows, inner: 256, out: 64 });
  }
  tf.dispose([xt, gy]);

  // Attention-sized batched products (ViT-S/16 @224, batch 2: 12 heads·batch of 197×64×197).
  const bh = 12;
  const tok = 197;
  const dh = 64;
  const q = tf.randomUniform([bh, tok, dh]);
  const k = tf.randomUniform([bh, tok, dh]);
  const bmmGflop = (2 * bh * tok * tok * dh) / 1e9;
  const bmmParams = { batch: bh, m: tok, k: dh, n: tok };
  record(`kernel.batch-matmul-transpose-b.${bh}x${tok}x${dh}`, bmmGflop, (await timeMedian(() => tf.matMul(q, k, false, true).dispose(), runs, 1)).median, bmmParams);
  if (stockMM && !quick) {
    const bk = tf.backend();
    const s = await timeMedian(
      () => adoptOutput(stockMM.kernelFunc({ inputs: { a: q, b: k }, backend: bk, attrs: { transposeA: false, transposeB: true } }) as tf.TensorInfo, bk).dispose(),
      runs,
      1,
    );
    record(`kernel.batch-matmul-transpose-b-stock.${bh}x${tok}x${dh}`, bmmGflop, s.median, bmmParams);
  }
  tf.dispose([q, k]);

  records.push(...(await helperBenchmarks(runs, backend, log)));
  return records;
}

/** The backbone helpers against the plain tfjs formulations they replace (forward + backward, ms). */
async function helperBenchmarks(runs: number, backend: string, log: (line: string) => void): Promise<BenchRecord[]> {
  const machine = machineInfo();
  const out: BenchRecord[] = [];
  const add = (id: string, seconds: number, params: Record<string, unknown>, target?: string) => {
    const value = Math.round(seconds * 1e4) / 10;
    out.push({ id, value, unit: 'ms', params, backend, machine, ...(target ? { target } : {}) });
    log(`${id.padEnd(52)} ${value.toFixed(1).padStart(8)} ms`);
  };
  const fwdBwd = async (f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) =>
    (
      await timeMedian(() => {
        const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => tf.sum(tf.square(f(...xs))))(inputs);
        tf.dispose([value, ...grads]);
      }, runs, 1)
    ).median;

  const bnShape = [16, 56, 56, 64];
  const bnTag = bnShape.join('x');
  const x = tf.randomUniform(bnShape);
  const g = tf.randomUniform([64], 0.5, 1.5) as tf.Tensor1D;
  const b = tf.randomUniform([64]) as tf.Tensor1D;
  const plainBn = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
    const { mean, variance } = tf.moments(xi, [0, 1, 2]);
    return tf.batchNorm(xi, mean, variance, bi as tf.Tensor1D, gi as tf.Tensor1D, 1e-5);
  };
  add(`batchnorm-plain.fwd-bwd.${bnTag}`, await fwdBwd(plainBn, [x, g, b]), { shape: bnShape });
  add(`batchnorm-train.fwd-bwd.${bnTag}`, await fwdBwd((xi, gi, bi) => batchNormTrain(xi, gi as tf.Tensor1D, bi as tf.Tensor1D).y, [x, g, b]), { shape: bnShape }, '< batchnorm-plain');
  tf.dispose([x, g, b]);

  // ViT-S/16 @224 tokens, batch 2.
  const tokens = tf.randomUniform([2, 197, 384]);
  const lg = tf.randomUniform([384], 0.5, 1.5);
  const lb = tf.randomUniform([384]);
  const plainLn = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
    const { mean, variance } = tf.moments(xi, 2, true);
    return tf.add(tf.mul(tf.mul(tf.sub(xi, mean), tf.rsqrt(tf.add(variance, 1e-6))), gi), bi);
  };
  add('layernorm-plain.fwd-bwd.2x197x384', await fwdBwd(plainLn, [tokens, lg, lb]), { shape: [2, 197, 384] });
  add('layernorm.fwd-bwd.2x197x384', await fwdBwd((xi, gi, bi) => layerNorm(xi, 1e-6, gi, bi), [tokens, lg, lb]), { shape: [2, 197, 384] }, '< layernorm-plain');
  tf.dispose([tokens, lg, lb]);

  // ViT-S/16 @224 attention block core, batch 2: qkv [2, 197, 3·384] split into 6 heads.
  const qkv = tf.randomUniform([2, 197, 3 * 384]);
  const plainAttention = (t: tf.Tensor) => {
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(t, [2, 197, 3, 6, 64]), [2, 0, 3, 1, 4])) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const o = tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 0.125)), v);
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [2, 197, 384]);
  };
  const helperAttention = (t: tf.Tensor) => {
    const [q, k, v] = splitHeads(t, 6, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    return mergeHeads(attention(q, k, v));
  };
  add('attention-plain.fwd-bwd.b2.t197.h6.d64', await fwdBwd(plainAttention, [qkv]), { batch: 2, tokens: 197, heads: 6, headDim: 64 });
  add('attention-helpers.fwd-bwd.b2.t197.h6.d64', await fwdBwd(helperAttention, [qkv]), { batch: 2, tokens: 197, heads: 6, headDim: 64 }, '< attention-plain');
  tf.dispose(qkv);
  return out;
}
