import { tf } from '../tf.js';
import { type WasmBackendLike, adoptOutput, asWasmBackend } from './util.js';

/** Which filter taps and dy offset feed one output phase (i ≡ a mod s) along one spatial axis. */
interface AxisPhase {
  /** Output rows of this phase: a, a+s, … < size. */
  count: number;
  /** Filter taps k0, k0+s, … < K, listed flipped (last tap first) as the stride-1 correlation needs them. */
  taps: number[];
  /** dy rows to drop at the start (> 0) or zero rows to pad (< 0 means pad −value). */
  padBefore: number;
  padAfter: number;
}

function axisPhase(a: number, size: number, k: number, s: number, top: number, outSize: number): AxisPhase {
  const count = a < size ? Math.ceil((size - a) / s) : 0;
  const k0 = (a + top) % s;
  const nTaps = k0 < k ? Math.ceil((k - k0) / s) : 0;
  const taps: number[] = [];
  for (let u = nTaps - 1; u >= 0; u--) taps.push(k0 + s * u);
  // Output p of this phase reads dy[p + c − t] for tap t (0-based), c = (a + top − k0)/s.
  const c = (a + top - k0) / s;
  return { count, taps, padBefore: nTaps - 1 - c, padAfter: count + c - outSize };
}

/** Pads (positive) or crops (negative) one spatial axis of an NHWC tensor at both ends. */
function padOrCrop(t: tf.Tensor4D, axis: 1 | 2, before: number, after: number): { t: tf.Tensor4D; before: number; after: number } {
  if (before >= 0 && after >= 0) return { t, before, after };
  const begin = [0, 0, 0, 0];
  const sizeArr = [...t.shape];
  if (before < 0) {
    begin[axis] = -before;
    sizeArr[axis] = (sizeArr[axis] as number) + before;
  }
  if (after < 0) sizeArr[axis] = (sizeArr[axis] as number) + after;
  return { t: tf.slice(t, begin, sizeArr), before: Math.max(0, before), after: Math.max(0, after) };
}

/**
 * The phase filter [Ta, Tb, Co, Ci]: out[u, v, o, i] = filter[rowTaps[u], colTaps[v], i, o], in one pass over the
 * wasm heap. Why: two stock GatherV2 calls and a Transpose per phase cost ~5 ms per phase for a 3×3×256×512
 * filter (118 ms of a ResNet-18@64 batch-4 step before small maps moved to conv-gemm.ts); this loop is one read
 * and one write per tap weight.
 */
function phaseFilter(filter: tf.Tensor4D, rowTaps: number[], colTaps: number[], wasm: WasmBackendLike, backend: unknown): tf.Tensor4D {
  const [, kw, ci, co] = filter.shape;
  const out = wasm.makeOutput([rowTaps.length, colTaps.length, co, ci], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const dst = wasm.typedArrayFromHeap(out) as Float32Array;
  const src = wasm.typedArrayFromHeap(filter) as Float32Array;
  const tap = ci * co;
  let to = 0;
  for (const a of rowTaps) {
    for (const b of colTaps) {
      const from = (a * kw + b) * tap;
      for (let o = 0; o < co; o++) {
        let f = from + o;
        for (let i = 0; i < ci; i++, f += co) dst[to++] = src[f] as number;
      }
    }
  }
  return adoptOutput(out, backend) as tf.Tensor4D;
}

/**
 * dX of a strided convolution without zero insertion: output phase (a, b) — the rows ≡ a and columns ≡ b
 * modulo the stride — is a stride-1 convolution of dy with the taps of the filter that land on it. The s²
 * phase convolutions together do exactly the useful work (zero insertion does s² times more), and a copy over
 * the wasm heap interleaves them into dx. Returns null when a phase would need a negative-size input, so the
 * caller falls back.
 */
export function stridedInputGrad(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  info: { sh: number; sw: number; top: number; left: number },
  backend: unknown,
): tf.TensorInfo | null {
  const wasm = asWasmBackend(backend, 'Conv2DBackpropInput');
  const [n, h, w, ci] = inputShape;
  const [kh, kw] = filter.shape;
  const [, oh, ow] = dy.shape;
  const { sh, sw, top, left } = info;
  const phases: { a: number; b: number; rows: number; cols: number; t: tf.Tensor4D }[] = [];
  for (let a = 0; a < sh; a++) {
    const pr = axisPhase(a, h, kh, sh, top, oh);
    for (let b = 0; b < sw; b++) {
      const pc = axisPhase(b, w, kw, sw, left, ow);
      if (pr.count === 0 || pc.count === 0 || pr.taps.length === 0 || pc.taps.length === 0) continue;
      const rows = padOrCrop(dy, 1, pr.padBefore, pr.padAfter);
      const both = padOrCrop(rows.t, 2, pc.padBefore, pc.padAfter);
      if (both.t.shape[1] <= 0 || both.t.shape[2] <= 0) return null;
      const wPhase = phaseFilter(filter, pr.taps, pc.taps, wasm, backend); // [Ta, Tb, Co, Ci]
      const t = tf.conv2d(both.t, wPhase, 1, [
        [0, 0],
        [rows.before, rows.after],
        [both.before, both.after],
        [0, 0],
      ]);
      if (t.shape[1] !== pr.count || t.shape[2] !== pc.count) return null;
      phases.push({ a, b, rows: pr.count, cols: pc.count, t });
    }
  }
  const out = wasm.makeOutput([n, h, w, ci], 'float32');
  // Heap views only after the last allocation (growth detaches earlier views).
  const dst = wasm.typedArrayFromHeap(out) as Float32Array;
  if (phases.length < sh * sw) dst.fill(0);
  for (const ph of phases) {
    const src = wasm.typedArrayFromHeap(ph.t) as Float32Array;
    let from = 0;
    for (let img = 0; img < n; img++) {
      for (let p = 0; p < ph.rows; p++) {
        let to = ((img * h + ph.a + sh * p) * w + ph.b) * ci;
        const step = sw * ci;
        for (let q = 0; q < ph.cols; q++) {
          if (ci >= 16) dst.set(src.subarray(from, from + ci), to);
          else for (let c = 0; c < ci; c++) dst[to + c] = src[from + c] as number;
          from += ci;
          to += step;
        }
      }
    }
  }
  return out;
}
