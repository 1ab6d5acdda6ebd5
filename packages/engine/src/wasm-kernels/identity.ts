import { HierError } from '@hier-ts/core';
import { stockWasmKernel } from './stock.js';
import type { tf } from '../tf.js';
import type { WasmKernel } from './types.js';
import { type KernelArgs, asWasmBackend } from './util.js';

/**
 * Identity, and Cast to the dtype the tensor already has, as a shared buffer (one more reference) instead of a copy.
 *
 * Why: stock wasm copies the whole buffer for both, and autograd emits them on every step (tf.grad's input
 * wrappers, the float32 casts in Mul's gradient): five full-size copies per conv layer of a cnn4 step. The wasm
 * backend counts references per buffer (its own Reshape shares the same way), so sharing is safe: no wasm kernel
 * writes into its inputs.
 */
function share(kernel: 'Identity' | 'Cast', args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const target = kernel === 'Cast' ? (args.attrs?.dtype as tf.DataType | undefined) : x.dtype;
  if (x.dtype === 'string' || x.dtype === 'complex64' || target !== x.dtype) {
    const stock = stockWasmKernel(kernel);
    if (!stock) throw new HierError('E_KERNEL', `${kernel}: the stock wasm kernel was not registered before hier-ts's replacement`);
    return stock.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  asWasmBackend(args.backend, kernel).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const identityKernel: WasmKernel = {
  kernelName: 'Identity',
  missingInStock: false,
  kernelFunc: ((args: KernelArgs) => share('Identity', args)) as unknown as tf.KernelFunc,
};

export const castKernel: WasmKernel = {
  kernelName: 'Cast',
  missingInStock: false,
  kernelFunc: ((args: KernelArgs) => share('Cast', args)) as unknown as tf.KernelFunc,
};
