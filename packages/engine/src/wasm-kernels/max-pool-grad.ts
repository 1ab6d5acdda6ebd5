import { HierError } from '@hier-ts/core';
import { tf } from '../tf.js';
import { maxPoolGradKernels, maxPoolGradOnHeap } from './max-pool-grad-heap.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, asWasmBackend } from './util.js';

/**
 * dx of a 2-D max-pool (NHWC): each window's dy goes to the window's first maximum in row-major order (strict `>`
 * from −∞, so ties go to the earliest position, NaNs are skipped and a window without a maximum passes nothing —
 * the cpu backend's rule). Overlapping windows add up.
 *
 * Why: stock wasm's MaxPoolGrad was ~25% of a cnn4 training step. One pass over the output here, scattering into
 * a zeroed dx over the wasm heap, instead of visiting every dx entry × every window that might cover it. The
 * forward `output` input is not needed: the argmax is re-derived from x, as the cpu backend does.
 */
function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, 'MaxPoolGrad');
  const { dy: dyInfo, input: xInfo } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  if (xInfo.shape.length !== 4 || dyInfo.shape.length !== 4) {
    throw new HierError('E_KERNEL', `MaxPoolGrad: input [${xInfo.shape}] and dy [${dyInfo.shape}] must be rank 4 (NHWC)`);
  }
  if (xInfo.dtype !== 'float32' || dyInfo.dtype !== 'float32') {
    throw new HierError('E_KERNEL', `MaxPoolGrad: input and dy must be float32, got ${xInfo.dtype} and ${dyInfo.dtype}`);
  }
  const info = tf.backend_util.computePool2DInfo(
    xInfo.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const expected = [n, oh, ow, c];
  if (dyInfo.shape.some((d, i) => d !== expected[i])) {
    throw new HierError('E_KERNEL', `MaxPoolGrad: dy is [${dyInfo.shape}] but pooling input [${xInfo.shape}] gives [${expected}]`);
  }
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(xInfo.shape, 'float32');
  // Views are taken after makeOutput: an allocation can grow (and so detach) the wasm heap.
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  const x = backend.typedArrayFromHeap(xInfo) as Float32Array;
  const dy = backend.typedArrayFromHeap(dyInfo) as Float32Array;
  const rowStride = w * c;
  // 2×2/2 windows tiling x exactly (even sizes, no padding): every dx entry is written once, so no zero fill.
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && h === 2 * oh && w === 2 * ow) {
    tiled2x2(x, dy, dx, n * oh, ow, c, rowStride);
    return out;
  }
  dx.fill(0);
  const simd = c % 4 === 0 && heapKernelsOn ? maxPoolGradKernels(args.backend) : null;
  if (simd) {
    // Four channels at a time in wasm (max-pool-grad-heap.ts), same rule and visiting order as the loop below.
    maxPoolGradOnHeap(simd, x, dy, dx, { n, h, w, c, oh, ow, fh, fw, sh, sw, top, left });
    return out;
  }
  const imageStride = h * rowStride;
  for (let b = 0; b < n; b++) {
    const xImage = b * imageStride;
    for (let yr = 0; yr < oh; yr++) {
      const r0 = yr * sh - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(h, r0 + fh);
      for (let yc = 0; yc < ow; yc++) {
        const c0 = yc * sw - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(w, c0 + fw);
        const dyBase = ((b * oh + yr) * ow + yc) * c;
        const cornerBase = xImage + rMin * rowStride + cMin * c;
        if (rMax - rMin === 2 && cMax - cMin === 2) {
          // The common 2×2 window, unrolled (same visiting order and comparisons as the general loop).
          const p01 = cornerBase + c;
          const p10 = cornerBase + rowStride;
          const p11 = p10 + c;
          for (let d = 0; d < c; d++) {
            let best = Number.NEGATIVE_INFINITY;
            let at = -1;
            let v = x[cornerBase + d] as number;
            if (v > best) {
              best = v;
              at = cornerBase + d;
            }
            v = x[p01 + d] as number;
            if (v > best) {
              best = v;
              at = p01 + d;
            }
            v = x[p10 + d] as number;
            if (v > best) {
              best = v;
              at = p10 + d;
            }
            v = x[p11 + d] as number;
            if (v > best) at = p11 + d;
            if (at >= 0) dx[at] = (dx[at] as number) + (dy[dyBase + d] as number);
          }
          continue;
        }
        for (let d = 0; d < c; d++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = rMin; r < rMax; r++) {
            const rowBase = xImage + r * rowStride + d;
            for (let col = cMin; col < cMax; col++) {
              const i = rowBase + col * c;
              const v = x[i] as number;
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] = (dx[at] as number) + (dy[dyBase + d] as number);
        }
      }
    }
  }
  return out;
}

let heapKernelsOn = true;
/** Runs MaxPoolGrad in JavaScript only (false) or on the wasm SIMD loop where channels come in fours (true, default). For tests. */
export function setMaxPoolGradSimd(on: boolean): boolean {
  const prev = heapKernelsOn;
  heapKernelsOn = on;
  return prev;
}

/** The exact-tiling 2×2/2 case; `rows` = N·OH output rows, each reading two input rows. */
function tiled2x2(x: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, ow: number, c: number, rowStride: number): void {
  for (let r = 0; r < rows; r++) {
    const top = 2 * r * rowStride;
    for (let yc = 0; yc < ow; yc++) {
      const p00 = top + 2 * yc * c;
      const p01 = p00 + c;
      const p10 = p00 + rowStride;
      const p11 = p10 + c;
      const g = (r * ow + yc) * c;
      for (let d = 0; d < c; d++) {
        const v00 = x[p00 + d] as number;
        const v01 = x[p01 + d] as number;
        const v10 = x[p10 + d] as number;
        const v11 = x[p11 + d] as number;
        // The same strict comparisons from −∞ as the general loop: first maximum wins, NaNs never do.
        let best = Number.NEGATIVE_INFINITY;
        let at = -1;
        if (v00 > best) {
          best = v00;
          at = 0;
        }
        if (v01 > best) {
          best = v01;
          at = 1;
        }
        if (v10 > best) {
          best = v10;
          at = 2;
        }
        if (v11 > best) at = 3;
        const gd = dy[g + d] as number;
        dx[p00 + d] = at === 0 ? gd : 0;
        dx[p01 + d] = at === 1 ? gd : 0;
        dx[p10 + d] = at === 2 ? gd : 0;
        dx[p11 + d] = at === 3 ? gd : 0;
      }
    }
  }
}

export const maxPoolGradKernel: WasmKernel = {
  kernelName: 'MaxPoolGrad',
  missingInStock: false,
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
