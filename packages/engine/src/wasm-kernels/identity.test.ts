import { beforeAll, describe, expect, it } from 'vitest';
import { wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { castKernel, identityKernel } from './identity.js';

describe('Identity and same-dtype Cast on wasm share the buffer', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  it('replace the stock kernels', () => {
    expect(tf.getKernel('Identity', 'wasm')?.kernelFunc).toBe(identityKernel.kernelFunc);
    expect(tf.getKernel('Cast', 'wasm')?.kernelFunc).toBe(castKernel.kernelFunc);
  });
  it('keep values after the source is disposed, free the buffer with the last reference', async () => {
    await initBackend('wasm');
    const before = wasmFootprint();
    const x = tf.tensor2d([1, -2, 3, 4.5], [2, 2]);
    const a = tf.clone(x); // Identity
    const b = tf.cast(x, 'float32');
    expect(wasmFootprint().buffers).toBe(before.buffers + 1);
    x.dispose();
    expect(Array.from(await a.data())).toEqual([1, -2, 3, 4.5]);
    a.dispose();
    expect(Array.from(await b.data())).toEqual([1, -2, 3, 4.5]);
    b.dispose();
    expect(wasmFootprint()).toEqual(before);
  });
  it('still convert between dtypes (stock path)', async () => {
    await initBackend('wasm');
    const before = wasmFootprint();
    const i = tf.tensor1d([1, 0, 7], 'int32');
    const f = tf.cast(i, 'float32');
    const r = tf.tensor1d([2.7, -1.2]);
    const back = tf.cast(r, 'int32');
    expect(f.dtype).toBe('float32');
    expect(Array.from(await f.data())).toEqual([1, 0, 7]);
    expect(Array.from(await back.data())).toEqual([2, -1]);
    tf.dispose([i, f, r, back]);
    expect(wasmFootprint().tensors).toBe(before.tensors);
  });
  it('leave a variable and its clone independent after assign', async () => {
    await initBackend('wasm');
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([9, 9, 9]));
    expect(Array.from(await c.data())).toEqual([1, 2, 3]);
    expect(Array.from(await v.data())).toEqual([9, 9, 9]);
    tf.dispose([v, c]);
  });
});
