import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { col2im, geometryOf, preferConvGemm } from './conv-gemm.js';
import { convWinogradInputGrad, winogradPlan } from './conv-winograd.js';
import { stockWasmKernel } from './stock.js';
import { stridedInputGrad } from './strided-input-grad.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, adoptOutput, asWasmBackend, fitSpatial, forwardConvInfo, requireNHWC, wrapInput, zeroInsert } from './util.js';

/**
 * dX for an NHWC convolution. Stock wasm computes it with a scalar loop at ~1.5–4 GF/s. Here:
 * - stride 1: a convolution of dy with the spatially flipped, in/out-swapped filter (XNNPACK, 5–10× stock);
 * - strided: one stride-1 convolution per output phase (strided-input-grad.ts), interleaved on the wasm heap —
 *   3.6× faster than convolving a zero-inserted dy, 3.5–7.6× faster than stock, the 7×7/2 stem included;
 * - 1×1: a matmul with dy·Wᵀ, zero-inserted when strided;
 * - small output maps (any stride): col2im(dy·Wᵀ) on the FMA GEMM (conv-gemm.ts), no per-call XNNPACK packing.
 * Geometry it cannot express (a pad larger than the kernel) goes to the stock kernel.
 */
function conv2dBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { dy: dyInfo, filter: fInfo } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  requireNHWC('Conv2DBackpropInput', attrs.dataFormat);
  const inputShape = attrs.inputShape as number[];
  if (!dyInfo || !fInfo || dyInfo.shape.length !== 4 || fInfo.shape.length !== 4 || inputShape?.length !== 4) {
    throw new HierError(
      'E_KERNEL',
      `Conv2DBackpropInput: expected rank-4 dy and filter and a 4-entry inputShape, got dy [${dyInfo?.shape}], filter [${fInfo?.shape}], inputShape [${inputShape}]`,
    );
  }
  const info = forwardConvInfo(inputShape, fInfo.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const [n, h, w, ci] = inputShape as [number, number, number, number];
  const co = fInfo.shape[3] as number;
  if (dyInfo.shape[0] !== n || dyInfo.shape[1] !== oh || dyInfo.shape[2] !== ow || dyInfo.shape[3] !== co) {
    throw new HierError(
      'E_KERNEL',
      `Conv2DBackpropInput: dy [${dyInfo.shape}] does not match the forward conv of x [${inputShape}] with filter [${fInfo.shape}] (expected dy [${n},${oh},${ow},${co}])`,
    );
  }
  const g = geometryOf(info);
  // A 3×3/1 same convolution: F(2×2, 3×3) on dy with the flipped filter (conv-winograd.ts), whatever the map size.
  const winograd = winogradPlan(g, true);
  if (winograd) return convWinogradInputGrad(dyInfo, fInfo, g, winograd, args.backend);
  if (preferConvGemm(g)) {
    // Small output map: dx = col2im(dy·Wᵀ) (conv-gemm.ts), no filter flip, gather or XNNPACK re-pack.
    let cols: tf.TensorInfo | null = null;
    tf.tidy(() => {
      const dy = tf.reshape(wrapInput(dyInfo, args.backend), [n * oh * ow, co]) as tf.Tensor2D;
      const f = tf.reshape(wrapInput(fInfo, args.backend), [kh * kw * ci, co]) as tf.Tensor2D;
      cols = tf.keep(tf.matMul(dy, f, false, true));
    });
    const colsT = cols as unknown as tf.Tensor2D;
    try {
      return col2im(colsT, g, args.backend);
    } finally {
      colsT.dispose();
    }
  }
  const oneByOne = kh === 1 && kw === 1 && top === 0 && left === 0;
  const padTop = kh - 1 - top;
  const padLeft = kw - 1 - left;
  if (!oneByOne && (sh > 1 || sw > 1)) {
    // The phase path returns an output it allocated itself; the tidy only releases the phase convolutions.
    let out: tf.TensorInfo | null = null;
    tf.tidy(() => {
      const dy = wrapInput(dyInfo, args.backend) as tf.Tensor4D;
      const filter = wrapInput(fInfo, args.backend) as tf.Tensor4D;
      out = stridedInputGrad(dy, filter, inputShape as [number, number, number, number], { sh, sw, top, left }, args.backend);
    });
    if (out) return out;
  }
  if (!oneByOne && (sh > 1 || sw > 1 || padTop < 0 || padLeft < 0)) {
    const stock = stockWasmKernel('Conv2DBackpropInput');
    if (stock) return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  return tf.tidy(() => {
    const dy = wrapInput(dyInfo, args.backend) as tf.Tensor4D;
    const filter = wrapInput(fInfo, args.backend) as tf.Tensor4D;
    if (oneByOne) {
      const g = tf.matMul(tf.reshape(dy, [n * oh * ow, co]), tf.reshape(filter, [ci, co]), false, true);
      const g4 = tf.reshape(g, [n, oh, ow, ci]) as tf.Tensor4D;
      return fitSpatial(zeroInsert(g4, sh, sw), h, w);
    }
    // Stride 1 from here on.
    const flipped = flipAndSwap(fInfo, args.backend); // [KH, KW, Co, Ci]
    // Rows of dy past h−1+top never reach an output row < h, so a negative bottom pad is a crop.
    const bottom = h + kh - 1 - padTop - oh;
    const right = w + kw - 1 - padLeft - ow;
    const src = bottom < 0 || right < 0 ? fitSpatial(dy, oh + Math.min(0, bottom), ow + Math.min(0, right)) : dy;
    return tf.conv2d(src, flipped, 1, [
      [0, 0],
      [padTop, Math.max(0, bottom)],
      [padLeft, Math.max(0, right)],
      [0, 0],
    ]);
  });
}

/**
 * The stride-1 input-gradient filter, f[KH−1−a, KW−1−b, o, i] = w[a, b, i, o], in one pass over the wasm heap.
 * Why: stock wasm's Reverse walks the tensor element by element in JS with index arithmetic (9.3 ms for a
 * [3, 3, 128, 256] filter, then a Transpose); this loop takes ~1 ms.
 */
function flipAndSwap(fInfo: tf.TensorInfo, backendArg: unknown): tf.Tensor4D {
  const backend = asWasmBackend(backendArg, 'Conv2DBackpropInput');
  const [kh, kw, ci, co] = fInfo.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  // Views are taken after makeOutput: an allocation can grow (and so detach) the wasm heap.
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const src = backend.typedArrayFromHeap(fInfo) as Float32Array;
  const tap = ci * co;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const from = (a * kw + b) * tap;
      const to = ((kh - 1 - a) * kw + (kw - 1 - b)) * tap;
      for (let o = 0; o < co; o++) {
        const row = to + o * ci;
        for (let i = 0; i < ci; i++) dst[row + i] = src[from + i * co + o] as number;
      }
    }
  }
  return adoptOutput(out, backendArg) as tf.Tensor4D;
}

export const conv2dBackpropInputKernel: WasmKernel = {
  kernelName: 'Conv2DBackpropInput',
  missingInStock: false,
  kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc,
};
