import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { stockWasmKernel } from './stock.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, wrapInput } from './util.js';

/**
 * Most columns (channels) sent to XNNPACK's average pooling. Its pooling kernels take a scratch row of `channels`
 * floats on the wasm stack (alloca), and tfjs-backend-wasm's stack is 64 KB: from ~16,300 channels a pooling of
 * more than 2 rows ran off the stack, silently corrupting the heap below it (a ViT-S step at batch 8 summed the
 * position-embedding gradient [8, 197·384] this way and crashed later in an unrelated free()). 4096 channels (16 KB)
 * leaves room for the frames around it; wider reductions go to the stock kernel.
 */
export const MAX_POOL_CHANNELS = 4096;

/**
 * When `axes` are one contiguous run [first..last] of `shape` that stops before the last axis, the reduction is a
 * column reduction of x viewed as [outer, rows, cols]; otherwise (innermost or scattered axes, or more than
 * MAX_POOL_CHANNELS columns) null.
 */
function middleBlock(shape: number[], axis: unknown): { first: number; last: number; outer: number; rows: number; cols: number } | null {
  const rank = shape.length;
  if (rank < 2) return null;
  const axes = [...new Set(tf.util.parseAxisParam(axis as number | number[], shape))].sort((a, b) => a - b);
  if (axes.length === 0) return null;
  const first = axes[0] as number;
  const last = axes[axes.length - 1] as number;
  if (last >= rank - 1 || last - first + 1 !== axes.length) return null;
  const prod = (a: number[]) => a.reduce((p, d) => p * d, 1);
  const outer = prod(shape.slice(0, first));
  const rows = prod(shape.slice(first, last + 1));
  const cols = prod(shape.slice(last + 1));
  return rows > 1 && outer > 0 && cols > 0 && cols <= MAX_POOL_CHANNELS ? { first, last, outer, rows, cols } : null;
}

/**
 * Sum or mean over a run of axes that excludes the innermost one (per-channel statistics of NHWC data, bias
 * gradients, global average pooling) as one average pooling of x viewed as [outer, rows, 1, cols].
 *
 * Why: stock wasm reduces only innermost axes, so it first transposes the whole tensor: 12.5 ms for a per-channel
 * sum of [90, 28, 28, 32]. XNNPACK's average pooling reads NHWC as it lies: 0.4 ms, and its float32 error against
 * a float64 reference is no worse than stock's (measured 5–8e-6 vs 9e-6 relative on 2.5M entries). A product with
 * a ones vector would be as fast only while XNNPACK's packed-weights cache hits, which it never does on fresh
 * activations (10 ms). A sum is the mean times `rows` (one extra rounding).
 */
function blockReduce(kernelName: 'Sum' | 'Mean', args: KernelArgs): tf.TensorInfo {
  const { x: xInfo } = args.inputs as { x: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const block = xInfo?.dtype === 'float32' ? middleBlock(xInfo.shape, attrs.axis) : null;
  if (!block) {
    const stock = stockWasmKernel(kernelName);
    if (!stock) throw new HierError('E_KERNEL', `${kernelName}: the stock wasm kernel was not registered before hier-ts's replacement`);
    return stock.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const { first, last, outer, rows, cols } = block;
  const shape = xInfo.shape;
  const outShape = attrs.keepDims
    ? shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : shape.filter((_, i) => i < first || i > last);
  return tf.tidy(() => {
    const x = wrapInput(xInfo, args.backend);
    const mean = tf.avgPool(tf.reshape(x, [outer, rows, 1, cols]) as tf.Tensor4D, [rows, 1], 1, 'valid');
    return tf.reshape(kernelName === 'Mean' ? mean : tf.mul(mean, rows), outShape);
  });
}

export const sumKernel: WasmKernel = {
  kernelName: 'Sum',
  missingInStock: false,
  kernelFunc: ((args: KernelArgs) => blockReduce('Sum', args)) as unknown as tf.KernelFunc,
};

export const meanKernel: WasmKernel = {
  kernelName: 'Mean',
  missingInStock: false,
  kernelFunc: ((args: KernelArgs) => blockReduce('Mean', args)) as unknown as tf.KernelFunc,
};
