import { HierError } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { explainWasmFailure, WASM_HEAP_CAP_BYTES, wasmHeapBytes } from './memory.js';
import { tf } from './tf.js';

// Own file: it fills this process's wasm heap to its cap, which never shrinks and leaves the instance unusable.
describe('an exhausted wasm heap', () => {
  it('is reported as E_WASM_HEAP with what to change; other errors pass through', async () => {
    await initBackend('wasm');
    const small = new Error('memory access out of bounds');
    expect(explainWasmFailure(small, 'test')).toBe(small); // heap far from the cap: not ours to explain
    const held: tf.Tensor[] = [];
    let caught: unknown = null;
    try {
      for (let i = 0; i < 20 && caught === null; i++) {
        try {
          held.push(tf.zeros([64 * 1024 * 1024])); // 256 MiB each
        } catch (e) {
          caught = e;
        }
      }
    } finally {
      tf.dispose(held);
    }
    expect(caught).not.toBeNull();
    expect(wasmHeapBytes()!).toBeGreaterThan(0.85 * WASM_HEAP_CAP_BYTES);
    const explained = explainWasmFailure(caught, 'the training step');
    expect(explained).toBeInstanceOf(HierError);
    expect((explained as HierError).code).toBe('E_WASM_HEAP');
    expect((explained as Error).message).toMatch(/training step ran out of wasm memory.*--micro_batch/);
    expect((explained as Error).cause).toBe(caught);
    const unrelated = new TypeError('x is not a function');
    expect(explainWasmFailure(unrelated, 'test')).toBe(unrelated);
  });
});
