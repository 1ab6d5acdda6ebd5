import { HierError } from '@hier-ts/core';
import type { tf } from '../tf.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, asWasmBackend } from './util.js';

/**
 * out[s, ...] = Σ_{i : ids[i] = s} x[i, ...]. Stock wasm lacks it, and it is the gradient of `gather`
 * (embedding lookups, HIER's LCA proxy gather). A single pass over the wasm heap: O(size(x)), no masks.
 * Negative ids are dropped (TensorFlow's rule); ids ≥ numSegments are an error rather than silently ignored.
 */
function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, 'UnsortedSegmentSum');
  const { x: xInfo, segmentIds: idsInfo } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = Number(args.attrs?.numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new HierError('E_KERNEL', `UnsortedSegmentSum: numSegments must be a non-negative integer, got ${String(args.attrs?.numSegments)}`);
  }
  const idRank = idsInfo.shape.length;
  if (idRank > xInfo.shape.length || idsInfo.shape.some((d, i) => d !== xInfo.shape[i])) {
    throw new HierError('E_KERNEL', `UnsortedSegmentSum: segmentIds [${idsInfo.shape}] must be a prefix of x's shape [${xInfo.shape}]`);
  }
  if (xInfo.dtype !== 'float32' && xInfo.dtype !== 'int32') {
    throw new HierError('E_KERNEL', `UnsortedSegmentSum: x must be float32 or int32, got ${xInfo.dtype}`);
  }
  const innerShape = xInfo.shape.slice(idRank);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  if (idsInfo.dtype !== 'int32') {
    throw new HierError('E_KERNEL', `UnsortedSegmentSum: segmentIds must be int32, got ${idsInfo.dtype}`);
  }
  // Validate before allocating so an error leaves nothing behind.
  const idsCheck = backend.typedArrayFromHeap(idsInfo);
  for (let i = 0; i < idsCheck.length; i++) {
    const s = idsCheck[i] as number;
    if (s >= numSegments) {
      throw new HierError('E_KERNEL', `UnsortedSegmentSum: segmentIds[${i}] = ${s} is out of range for numSegments = ${numSegments}`);
    }
  }
  const out = backend.makeOutput([numSegments, ...innerShape], xInfo.dtype);
  // Views are taken after makeOutput: an allocation can grow (and so detach) the wasm heap.
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(xInfo);
  const ids = backend.typedArrayFromHeap(idsInfo);
  dst.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i] as number;
    if (s < 0) continue;
    const from = i * inner;
    const to = s * inner;
    for (let j = 0; j < inner; j++) dst[to + j] = (dst[to + j] as number) + (src[from + j] as number);
  }
  return out;
}

export const unsortedSegmentSumKernel: WasmKernel = {
  kernelName: 'UnsortedSegmentSum',
  missingInStock: true,
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
