import type { tf } from '../tf.js';

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
