import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { type ConvGeometry, geometryOf, im2col, preferConvGemm } from './conv-gemm.js';
import { convIgemm, preferConvIgemm } from './conv-igemm.js';
import { convWinograd, winogradPlan } from './conv-winograd.js';
import { stockWasmKernel } from './stock.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, adoptOutput, requireNHWC, wrapInput } from './util.js';

/**
 * Forward NHWC convolution. Small output maps (conv-gemm.ts: ResNet layer3/layer4 at 64 px) run as a patch
 * matrix times the HWIO filter on hier-ts's BatchMatMul, which skips XNNPACK's per-call weight packing (the
 * weights are new buffers on every training step, so XNNPACK re-packs every call). Everything else, and any
 * dilation, goes to stock XNNPACK.
 */
function conv2d(args: KernelArgs): tf.TensorInfo {
  const { x: xInfo, filter: fInfo } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const stock = stockWasmKernel('Conv2D');
  if (!stock) throw new HierError('E_KERNEL', 'Conv2D: the stock wasm kernel was not registered before hier-ts\'s replacement');
  const dilations = attrs.dilations as number | [number, number] | undefined;
  const dilated = dilations !== undefined && (Array.isArray(dilations) ? dilations.some((d) => d !== 1) : dilations !== 1);
  if (dilated || !xInfo || !fInfo || xInfo.shape.length !== 4 || fInfo.shape.length !== 4 || xInfo.dtype !== 'float32' || fInfo.dtype !== 'float32') {
    return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  requireNHWC('Conv2D', attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    xInfo.shape as [number, number, number, number],
    fInfo.shape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const g = geometryOf(info);
  const winograd = winogradPlan(g);
  if (winograd) return convWinograd(xInfo, fInfo, g, winograd, args.backend);
  if (isPointwise(g) && pointwiseOnGemm) {
    // A 1×1, stride-1, unpadded convolution is x [n·h·w, ci] times the filter [ci, co]: one product on the FMA GEMM
    // (A read in place), with no patch matrix at all.
    return tf.tidy(() => {
      const x2 = tf.reshape(wrapInput(xInfo, args.backend), [g.n * g.h * g.w, g.ci]) as tf.Tensor2D;
      const f = tf.reshape(wrapInput(fInfo, args.backend), [g.ci, g.co]) as tf.Tensor2D;
      return tf.reshape(tf.matMul(x2, f), [g.n, g.oh, g.ow, g.co]);
    });
  }
  if (!preferConvGemm(g)) {
    if (preferConvIgemm(g)) return convIgemm(xInfo, fInfo, g, args.backend);
    return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  return tf.tidy(() => {
    const cols = adoptOutput(im2col(xInfo, g, args.backend), args.backend) as tf.Tensor2D;
    const f = tf.reshape(wrapInput(fInfo, args.backend), [g.kh * g.kw * g.ci, g.co]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(cols, f), [g.n, g.oh, g.ow, g.co]);
  });
}

function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0 && g.oh === g.h && g.ow === g.w;
}

let pointwiseOnGemm = true;
/** Runs 1×1 stride-1 convolutions on XNNPACK again (false) or as one product (true, default); returns the previous value. */
export function setPointwiseConvGemm(on: boolean): boolean {
  const prev = pointwiseOnGemm;
  pointwiseOnGemm = on;
  return prev;
}

export const conv2dKernel: WasmKernel = {
  kernelName: 'Conv2D',
  missingInStock: false,
  kernelFunc: conv2d as unknown as tf.KernelFunc,
};
