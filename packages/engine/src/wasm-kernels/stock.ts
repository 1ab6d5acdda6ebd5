import { tf } from '../tf.js';

/** Stock wasm kernels that hier-ts replaced, kept so the replacements can delegate (e.g. the un-transposed matmul). */
const stock = new Map<string, tf.KernelConfig>();

export function rememberStockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  const existing = stock.get(kernelName);
  if (existing) return existing;
  const config = tf.getKernel(kernelName, 'wasm');
  if (config) stock.set(kernelName, config);
  return config;
}

/** The stock tfjs-backend-wasm kernel that `kernelName` replaced, if there was one. */
export function stockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  return stock.get(kernelName);
}
