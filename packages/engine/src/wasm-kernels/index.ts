import { tf } from '../tf.js';
import { batchMatMulKernel } from './batch-mat-mul.js';
import { conv2dKernel } from './conv2d.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { meanKernel, sumKernel } from './block-reduce.js';
import { castKernel, identityKernel } from './identity.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { rememberStockWasmKernel } from './stock.js';
import type { WasmKernel } from './types.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

export type { WasmKernel } from './types.js';
export { setConvGemmMaxMap, setConvGemmMinChannels } from './conv-gemm.js';
export { type ConvIgemmMode, setConvIgemm } from './conv-igemm.js';
export { type ConvWinogradMode, type ConvWinogradTile, setConvWinograd, setConvWinogradTile } from './conv-winograd.js';

const KERNELS: WasmKernel[] = [conv2dKernel, conv2dBackpropFilterKernel, conv2dBackpropInputKernel, batchMatMulKernel, unsortedSegmentSumKernel, maxPoolGradKernel, sumKernel, meanKernel, identityKernel, castKernel];

let registered = false;

/**
 * Registers (or replaces) hier-ts's wasm training kernels. Idempotent. Call it after importing
 * @tensorflow/tfjs-backend-wasm (initBackend('wasm') does): the stock kernels must be registered already so the
 * replacements can keep their setup functions (which bind the wasm exports) and delegate to them.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered) return wasmKernelNames();
  for (const k of KERNELS) {
    const stock = rememberStockWasmKernel(k.kernelName);
    if (tf.getKernel(k.kernelName, 'wasm')) tf.unregisterKernel(k.kernelName, 'wasm');
    // The stock setupFunc must still run when the backend initialises, or the stock kernelFunc we delegate to
    // would call an unbound wasm export.
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: 'wasm',
      kernelFunc: k.kernelFunc,
      ...(stock?.setupFunc ? { setupFunc: stock.setupFunc } : {}),
    });
  }
  registered = true;
  return wasmKernelNames();
}

export function wasmKernelNames(): string[] {
  return KERNELS.map((k) => k.kernelName);
}
