import { Rng } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import { randomArray, relErr } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';

// tfjs-backend-wasm's heap grows to 4 GiB, so tensors can sit at byte offsets ≥ 2³¹. A signed `>> 2` on such an
// offset goes negative, and typed-array fill/copyWithin then count from the heap's end: our patch-GEMM convolution
// silently wrote into other tensors (wrong outputs, NaN gradients, then XNNPACK stalls). This runs a small net
// through every kernel we register, with its tensors above 2 GiB, against the cpu backend.
/** tfjs-backend-wasm's per-tensor record (an internal field, read only to check where the test's tensors live). */
interface WasmBackendInternals {
  dataIdMap: { get(id: object): { memoryOffset: number } };
}

const rng = new Rng(23);
const XV = randomArray(rng, 4 * 8 * 8 * 16);
const W1 = randomArray(rng, 3 * 3 * 16 * 32).map((v) => v * 0.2);
const W2 = randomArray(rng, 3 * 3 * 32 * 32).map((v) => v * 0.2);
const D = randomArray(rng, 64 * 128).map((v) => v * 0.1);

async function gradsOn(backend: 'cpu' | 'wasm', beforeRun?: () => void): Promise<{ grads: Record<string, Float32Array>; offset: number }> {
  await initBackend(backend);
  beforeRun?.();
  const v = { w1: tf.variable(tf.tensor4d(W1, [3, 3, 16, 32])), w2: tf.variable(tf.tensor4d(W2, [3, 3, 32, 32])), d: tf.variable(tf.tensor2d(D, [64, 128])) };
  const x = tf.tensor4d(XV, [4, 8, 8, 16]);
  let offset = -1;
  const { value, grads } = tf.variableGrads(() => {
    // 8×8 maps run as one patch GEMM (im2col / col2im); the stride-2 conv takes the strided input-gradient path.
    const h1 = tf.relu(tf.conv2d(x, v.w1, 1, 'same'));
    if (backend === 'wasm') offset = (tf.backend() as unknown as WasmBackendInternals).dataIdMap.get(h1.dataId).memoryOffset;
    const pooled = tf.maxPool(h1, 2, 2, 'valid'); // MaxPoolGrad
    const h2 = tf.conv2d(pooled, v.w2, 2, 'same'); // [4, 2, 2, 32]
    const logits = tf.matMul(tf.reshape(h2, [4, 128]), v.d, false, true); // 4·128·64 = 2¹⁵: the SIMD GEMM
    const picked = tf.gather(v.d, tf.tensor1d([3, 0, 3, 7], 'int32')); // UnsortedSegmentSum in the gradient
    return tf.add(tf.mean(tf.square(logits)), tf.mean(tf.mul(picked, tf.reshape(h2, [4, 128])))) as tf.Scalar;
  }, Object.values(v));
  const out: Record<string, Float32Array> = { loss: Float32Array.from(await value.data()) };
  for (const [k, variable] of Object.entries(v)) out[k] = Float32Array.from(await grads[variable.name]!.data());
  tf.dispose([value, x, ...Object.values(grads), ...Object.values(v)]);
  return { grads: out, offset };
}

describe('wasm kernels with tensors above 2 GiB of heap', () => {
  it('match the cpu backend', async () => {
    const ref = await gradsOn('cpu');
    const filler: tf.Tensor[] = [];
    try {
      // 9 × 256 MiB first, so what the net allocates afterwards lands above 2.25 GiB.
      const got = await gradsOn('wasm', () => {
        for (let i = 0; i < 9; i++) filler.push(tf.zeros([64 * 1024 * 1024]));
      });
      expect(got.offset).toBeGreaterThanOrEqual(2 ** 31);
      for (const k of Object.keys(ref.grads)) expect(relErr(ref.grads[k]!, got.grads[k]!), k).toBeLessThan(5e-5);
    } finally {
      tf.dispose(filler);
    }
  });
});
