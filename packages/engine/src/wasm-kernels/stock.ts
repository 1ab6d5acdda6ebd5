import { tf } from '../tf.js';

/**
 * Stock wasm kernels that hier-ts replaced, kept so the replacements can delegate (e.g. the un-transposed
 * matmul). The map lives on globalThis: if two copies of this package load (sources under vitest and a
 * sibling's dist, say), the second must not mistake the first one's replacement for the stock kernel.
 */
const KEY = Symbol.for('hier-ts.engine.stockWasmKernels');
interface Shared {
  stock: Map<string, tf.KernelConfig>;
  /** Kernel names some copy of hier-ts has already registered (whatever is registered now is ours). */
  replaced: Set<string>;
}
const holder = globalThis as unknown as Record<symbol, Shared | undefined>;
const shared: Shared = holder[KEY] ?? { stock: new Map(), replaced: new Set() };
holder[KEY] = shared;
const stock = shared.stock;

/** Records the stock kernel about to be replaced (once per process) and returns it. */
export function rememberStockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  if (shared.replaced.has(kernelName)) return stock.get(kernelName);
  shared.replaced.add(kernelName);
  const config = tf.getKernel(kernelName, 'wasm');
  if (config) stock.set(kernelName, config);
  return config;
}

/** The stock tfjs-backend-wasm kernel that `kernelName` replaced, if there was one. */
export function stockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  return stock.get(kernelName);
}
