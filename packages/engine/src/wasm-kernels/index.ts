import { tf } from '../tf.js';

/**
 * One entry per kernel hier-ts registers for the wasm backend. Each lives in its own file beside this one,
 * with a test against the cpu backend.
 */
export interface WasmKernel {
  kernelName: string;
  /** Stock wasm lacks it (true) or has a slower version we replace (false). */
  missingInStock: boolean;
  kernelFunc: tf.KernelFunc;
}

const KERNELS: WasmKernel[] = [];

let registered = false;

/** Registers (or replaces) hier-ts's wasm training kernels. Idempotent. */
export function registerWasmTrainingKernels(): string[] {
  if (registered) return KERNELS.map((k) => k.kernelName);
  for (const k of KERNELS) {
    if (tf.getKernel(k.kernelName, 'wasm')) tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({ kernelName: k.kernelName, backendName: 'wasm', kernelFunc: k.kernelFunc });
  }
  registered = true;
  return KERNELS.map((k) => k.kernelName);
}

export function wasmKernelNames(): string[] {
  return KERNELS.map((k) => k.kernelName);
}
