import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { geometryOf, im2col, preferConvGemm } from './conv-gemm.js';
import { convWinogradFilterGrad, winogradPlan } from './conv-winograd.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, adoptOutput, asWasmBackend, forwardConvInfo, requireNHWC, wrapInput } from './util.js';

/**
 * dW for an NHWC convolution, which stock tfjs-backend-wasm 4.22 lacks (so no conv net can train on wasm
 * without it).
 *
 * The conv trick: dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh−top, ow·s+kw−left, ci] · dy[n,oh,ow,co] is itself a
 * convolution, with channels as the batch, the batch as the channels, dy as a (large) filter dilated by the
 * stride, and a kh×kw output. XNNPACK runs that at 15–30 GF/s, where im2col slices + matMul reach 1–3 GF/s.
 * A 1×1 kernel is a plain Xᵀ·dY matmul (after subsampling x when strided). Small output maps take
 * cols(x)ᵀ·dy on the FMA GEMM instead (conv-gemm.ts).
 */
function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { x: xInfo, dy: dyInfo } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  requireNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  const filterShape = attrs.filterShape as number[];
  if (!xInfo || !dyInfo || xInfo.shape.length !== 4 || dyInfo.shape.length !== 4 || filterShape?.length !== 4) {
    throw new HierError(
      'E_KERNEL',
      `Conv2DBackpropFilter: expected rank-4 x and dy and a 4-entry filterShape, got x [${xInfo?.shape}], dy [${dyInfo?.shape}], filterShape [${filterShape}]`,
    );
  }
  const info = forwardConvInfo(xInfo.shape, filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  if (dyInfo.shape[1] !== oh || dyInfo.shape[2] !== ow || dyInfo.shape[3] !== filterShape[3] || xInfo.shape[3] !== filterShape[2]) {
    throw new HierError(
      'E_KERNEL',
      `Conv2DBackpropFilter: dy [${dyInfo.shape}] does not match the forward conv of x [${xInfo.shape}] with filter [${filterShape}] (expected dy [${xInfo.shape[0]},${oh},${ow},${filterShape[3]}])`,
    );
  }
  const g = geometryOf(info);
  const winograd = winogradPlan(g);
  if (winograd) return convWinogradFilterGrad(xInfo, dyInfo, g, winograd, args.backend);
  if (preferConvGemm(g)) {
    // Small output map: dW = cols(x)ᵀ·dy (conv-gemm.ts), already in HWIO; dy is never packed as a filter.
    return tf.tidy(() => {
      const cols = adoptOutput(im2col(xInfo, g, args.backend), args.backend) as tf.Tensor2D;
      const dy = tf.reshape(wrapInput(dyInfo, args.backend), [g.n * oh * ow, g.co]) as tf.Tensor2D;
      return tf.reshape(tf.matMul(cols, dy, true, false), [kh, kw, g.ci, g.co]);
    });
  }
  return tf.tidy(() => {
    const x = wrapInput(xInfo, args.backend) as tf.Tensor4D;
    const dy = wrapInput(dyInfo, args.backend) as tf.Tensor4D;
    const [n, h, w, ci] = x.shape;
    const co = dy.shape[3];
    if (kh === 1 && kw === 1 && top === 0 && left === 0) {
      // A 1×1 max-pool with the conv's stride is a pure subsample, far cheaper than a strided slice on wasm.
      const xs = sh === 1 && sw === 1 && oh === h && ow === w ? x : tf.maxPool(x, 1, [sh, sw], 'valid');
      const xs2 = tf.reshape(fitTo(xs, oh, ow), [n * oh * ow, ci]);
      const dy2 = tf.reshape(dy, [n * oh * ow, co]);
      return tf.reshape(tf.matMul(xs2, dy2, true, false), [1, 1, ci, co]);
    }
    if (ci <= MAX_TAP_ROW_CHANNELS) {
      // Few input channels (RGB and grayscale stems): the conv trick would transpose dy and pack it as a huge filter
      // (24 ms for cnn4's [90, 28, 28, 32], 44 ms for ResNet-18@64's 7×7/2 stem at batch 32); the kh·kw·ci tap rows
      // of x are small, and one long product over them (k blocks on the FMA GEMM) wins: 13 and 27 ms.
      const patches = tapRows(xInfo, { kh, kw, sh, sw, oh, ow, top, left }, args.backend);
      return tf.reshape(tf.matMul(patches, tf.reshape(dy, [n * oh * ow, co]) as tf.Tensor2D), [kh, kw, ci, co]);
    }
    const xT = tf.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Co]
    // Rows of x past the last window are never read; a negative "pad" means crop them away.
    const bottom = kh + (oh - 1) * sh - top - h;
    const right = kw + (ow - 1) * sw - left - w;
    const xc = bottom < 0 || right < 0 ? tf.slice(xT, [0, 0, 0, 0], [ci, h + Math.min(0, bottom), w + Math.min(0, right), n]) : xT;
    const out = tf.conv2d(
      xc as tf.Tensor4D,
      dyT,
      1,
      [
        [0, 0],
        [top, Math.max(0, bottom)],
        [left, Math.max(0, right)],
        [0, 0],
      ],
      'NHWC',
      [sh, sw],
    ); // [Ci, KH, KW, Co]
    return tf.transpose(out, [1, 2, 0, 3]);
  });
}

/** Input channels up to which dW is one product over the tap rows of x (`tapRows`) instead of the conv trick. */
const MAX_TAP_ROW_CHANNELS = 4;

/**
 * For x [N, H, W, ci]: row (a·kw + b)·ci + c holds x[n, r·sh + a − top, q·sw + b − left, c] for every output position
 * (n, r, q), zero where that falls in the padding: the transposed patch matrix, whose rows are already in HWIO order.
 * Built in one pass over the wasm heap.
 */
function tapRows(
  xInfo: tf.TensorInfo,
  k: { kh: number; kw: number; sh: number; sw: number; oh: number; ow: number; top: number; left: number },
  backendArg: unknown,
): tf.Tensor2D {
  const backend = asWasmBackend(backendArg, 'Conv2DBackpropFilter');
  const [n, h, w, ci] = xInfo.shape as [number, number, number, number];
  const { kh, kw, sh, sw, oh, ow, top, left } = k;
  const m = n * oh * ow;
  const out = backend.makeOutput([kh * kw * ci, m], 'float32');
  // Views are taken after makeOutput: an allocation can grow (and so detach) the wasm heap.
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const src = backend.typedArrayFromHeap(xInfo) as Float32Array;
  const step = sw * ci;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      // Output columns q whose input column q·sw + b − left lies inside [0, w).
      const q0 = Math.max(0, Math.ceil((left - b) / sw));
      const q1 = Math.min(ow, Math.floor((w - 1 + left - b) / sw) + 1);
      for (let c = 0; c < ci; c++) {
        const row = ((a * kw + b) * ci + c) * m;
        for (let img = 0; img < n; img++) {
          for (let r = 0; r < oh; r++) {
            const to = row + (img * oh + r) * ow;
            const sr = r * sh + a - top;
            if (sr < 0 || sr >= h) {
              dst.fill(0, to, to + ow);
              continue;
            }
            if (q0 > 0) dst.fill(0, to, to + Math.min(q0, ow));
            if (q1 < ow) dst.fill(0, to + Math.max(q0, q1), to + ow);
            let from = ((img * h + sr) * w + q0 * sw + b - left) * ci + c;
            for (let q = q0; q < q1; q++, from += step) dst[to + q] = src[from] as number;
          }
        }
      }
    }
  }
  return adoptOutput(out, backendArg) as tf.Tensor2D;
}

function fitTo(t: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, th, tw, c] = t.shape;
  return th === h && tw === w ? t : tf.slice(t, [0, 0, 0, 0], [n, h, w, c]);
}

export const conv2dBackpropFilterKernel: WasmKernel = {
  kernelName: 'Conv2DBackpropFilter',
  missingInStock: true,
  kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
};
