import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { registerWasmTrainingKernels, wasmKernelNames } from './index.js';
import { stockWasmKernel } from './stock.js';

describe('registerWasmTrainingKernels', () => {
  it('registers the ten kernels once, keeping the replaced stock kernels for delegation', async () => {
    await initBackend('wasm');
    const names = ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'UnsortedSegmentSum', 'MaxPoolGrad', 'Sum', 'Mean', 'Identity', 'Cast'];
    expect(wasmKernelNames().sort()).toEqual([...names].sort());
    const before = names.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    expect(registerWasmTrainingKernels().sort()).toEqual([...names].sort());
    expect(names.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc)).toEqual(before);
    expect(stockWasmKernel('BatchMatMul')?.kernelFunc).not.toBe(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc);
    expect(stockWasmKernel('Conv2DBackpropInput')).toBeDefined();
    expect(stockWasmKernel('MaxPoolGrad')).toBeDefined();
    expect(stockWasmKernel('Conv2D')).toBeDefined();
    // Stock wasm has no such kernels, so there is nothing to delegate to.
    expect(stockWasmKernel('Conv2DBackpropFilter')).toBeUndefined();
    expect(stockWasmKernel('UnsortedSegmentSum')).toBeUndefined();
  });
});
