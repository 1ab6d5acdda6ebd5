import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { tf } from './tf.js';

describe('initBackend', () => {
  it('auto falls back to wasm when no native engine is installed, and says why', async () => {
    const choice = await initBackend('auto');
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/tfjs-node-gpu is not installed/);
    expect(tf.getBackend()).toBe('wasm');
  });
  it('refuses an explicit native engine that is absent', async () => {
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(/tfjs-node-gpu is not installed/);
  });
  it('rejects unknown names, listing the known ones', async () => {
    await expect(initBackend('cuda' as never)).rejects.toThrow(/auto, tensorflow-gpu, tensorflow, wasm, cpu/);
  });
  it('switches to cpu on request', async () => {
    const c = await initBackend('cpu');
    expect(c.backend).toBe('cpu');
    await initBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});
