import { HierError } from '@hier-ts/core';
import { tf } from './tf.js';

/**
 * Splits a fused projection [B, T, parts·H·dh] (e.g. ViT's qkv with parts = 3) into `parts` tensors
 * [B, H, T, dh], in timm's layout (`reshape(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)`).
 *
 * Why not that rank-5 transpose: on wasm it runs 5–10× slower than slicing the last axis and doing a rank-4
 * transpose per part (Transpose was 15% of a ViT-S step). The gradient is the same (slice/transpose adjoints).
 */
export function splitHeads(x: tf.Tensor, heads: number, parts = 1): tf.Tensor4D[] {
  if (x.rank !== 3 || !Number.isInteger(heads) || heads < 1 || !Number.isInteger(parts) || parts < 1) {
    throw new HierError('E_SHAPE', `splitHeads: expected x [B, T, parts·H·dh] and integer heads, parts ≥ 1; got x [${x.shape}], heads ${heads}, parts ${parts}`);
  }
  const [b, t, width] = x.shape as [number, number, number];
  if (width % (parts * heads) !== 0) {
    throw new HierError('E_SHAPE', `splitHeads: last axis ${width} of x [${x.shape}] is not divisible by parts (${parts}) × heads (${heads})`);
  }
  const d = width / parts;
  const dh = d / heads;
  return tf.tidy(() => {
    const out: tf.Tensor4D[] = [];
    for (let j = 0; j < parts; j++) {
      const part = parts === 1 ? x : tf.slice(x, [0, 0, j * d], [b, t, d]);
      out.push(tf.transpose(tf.reshape(part, [b, t, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D);
    }
    return out;
  });
}

/** [B, H, T, dh] -> [B, T, H·dh]: the inverse of one part of `splitHeads`. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  if (x.rank !== 4) throw new HierError('E_SHAPE', `mergeHeads: expected x [B, H, T, dh], got [${x.shape}]`);
  const [b, h, t, dh] = x.shape;
  return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]) as tf.Tensor3D);
}

/**
 * Scaled dot-product attention softmax(q·kᵀ·scale)·v over [B, H, T, dh] tensors (scale defaults to dh^−½).
 * Written with plain ops on purpose: on wasm the speed comes from hier-ts's BatchMatMul kernel (explicit
 * transposes, and one XNNPACK product per head instead of stock's scalar batch loop), which the gradient
 * matmuls reach as well.
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale?: number): tf.Tensor4D {
  const same = (a: tf.Tensor, c: tf.Tensor) => a.rank === 4 && a.shape.every((s, i) => s === c.shape[i]);
  if (!same(q, k) || q.rank !== 4 || v.rank !== 4 || v.shape[0] !== q.shape[0] || v.shape[1] !== q.shape[1] || v.shape[2] !== q.shape[2]) {
    throw new HierError('E_SHAPE', `attention: expected q, k [B, H, T, dh] of one shape and v [B, H, T, dv]; got q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  }
  const s = scale ?? 1 / Math.sqrt(q.shape[3]);
  return tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), s)), v) as tf.Tensor4D);
}
