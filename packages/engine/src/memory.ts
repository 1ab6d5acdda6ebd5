import { HierError } from '@hier-ts/core';
import { tf } from './tf.js';

/**
 * Runs `step` `repeats` times and returns how many tensors were left alive per repetition after the first
 * (0 when nothing leaks). The first run is excluded because kernels and variables may allocate once.
 */
export async function tensorGrowthPerStep(step: () => unknown | Promise<unknown>, repeats = 3): Promise<number> {
  await step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) await step();
  return (tf.memory().numTensors - before) / repeats;
}

/** The wasm backend's heap cap (tfjs-backend-wasm 4.22 is built with a 4 GiB maximum). */
export const WASM_HEAP_CAP_BYTES = 4 * 2 ** 30;
/** An error caught with the heap at least this full is taken for an exhausted heap. */
const NEAR_CAP_BYTES = 3.5 * 2 ** 30;

interface WasmBackendHeap {
  wasm?: { HEAPU8?: Uint8Array };
}

/** Current size of the wasm backend's heap in bytes (it only grows), or null when the backend is not wasm. */
export function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const heap = (tf.backend() as unknown as WasmBackendHeap).wasm?.HEAPU8;
  return heap ? heap.byteLength : null;
}

/**
 * tfjs-backend-wasm does not check its allocations: once the 4 GiB heap is full, malloc returns 0, kernels write
 * from address 0, and the failure surfaces later as "memory access out of bounds" or `Aborted()` in whatever runs
 * next. Caught while the heap is near its cap, such an error becomes an E_WASM_HEAP HierError that says what
 * happened and what to change; anything else is returned unchanged. The wasm instance is unusable afterwards
 * (its allocator state is corrupt), so the caller should stop.
 */
export function explainWasmFailure(err: unknown, what: string): unknown {
  const heap = wasmHeapBytes();
  if (heap === null || heap < NEAR_CAP_BYTES) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (!/memory access out of bounds|Aborted\(|Cannot enlarge memory|out of memory|offset is out of bounds|Invalid typed array length/i.test(message)) return err;
  const gib = (heap / 2 ** 30).toFixed(2);
  return new HierError(
    'E_WASM_HEAP',
    `${what} ran out of wasm memory: the heap is at ${gib} GiB of its 4 GiB cap (wasm error: ${message}). ` +
      'Lower the images per forward pass: the trainer\'s --micro_batch (gradient caching keeps the HIER/PA losses exact) ' +
      'or the batch size. Heap per image of one training pass, measured: ResNet-50@224 ≈ 0.4 GB, ViT-S/16@224 ≈ 0.65 GB, ' +
      'ViT-Tiny/8@64 ≈ 0.09 GB, ResNet-18@64 ≈ 8 MB. This process\'s wasm heap is now unusable; restart it.',
    { cause: err },
  );
}
