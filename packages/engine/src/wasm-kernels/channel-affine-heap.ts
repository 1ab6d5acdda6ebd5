import { tf } from '../tf.js';
import { Code, type FunctionDef, I32, V128, type ValType } from '../simd/wasm-builder.js';
import { asWasmBackend, heapModule } from './util.js';

/**
 * y = x·scale + shift per channel (the last axis), optionally followed by ReLU, and its backward, each as one wasm
 * SIMD pass on tfjs-backend-wasm's heap (the module imports the backend's memory: no copies).
 *
 * Why: a frozen (or evaluation-mode) BatchNorm is exactly this affine map, and ResNet follows most of them with a
 * ReLU. Through autograd that was a multiply and an add forward, then dy·scale, dy·x, two channel sums and the
 * ReLU's step and multiply backward: six to eight passes over an activation-sized tensor per layer, here two.
 */
/** affineForward(x, scale, shift, residual, y, rows, groups, relu): y = x·scale + shift (+ residual when its pointer is not 0), then ReLU. */
function forwardFunction(): FunctionDef {
  const [X, SCALE, SHIFT, RES, Y, ROWS, GROUPS, RELU] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [r, g, sp, hp] = [8, 9, 10, 11];
  const v = 12;
  const c = new Code();
  c.forUp(r, ROWS, () => {
    c.get(SCALE).set(sp).get(SHIFT).set(hp);
    c.forUp(g, GROUPS, () => {
      // the same rounding as tf.add(tf.mul(x, scale), shift), then + residual
      c.get(X).v128Load().get(sp).v128Load().f32x4Mul().get(hp).v128Load().f32x4Add().set(v);
      c.get(RES).if_().get(v).get(RES).v128Load().f32x4Add().set(v).inc(RES, 16).end();
      c.get(RELU).if_().get(v).v128Zero().f32x4Max().set(v).end();
      c.get(Y).get(v).v128Store();
      c.inc(X, 16).inc(Y, 16).inc(sp, 16).inc(hp, 16);
    });
  });
  return { name: 'affineForward', params: new Array<ValType>(8).fill(I32), results: [], locals: [...new Array<ValType>(4).fill(I32), V128], body: c };
}

/**
 * affineBackward(x, y, dy, scale, dx, dres, dscale, dshift, rows, groups, relu): g = dy (masked by y > 0 with relu),
 * dx = g·scale, dres = g when its pointer is not 0, dscale += Σ_rows g·x, dshift += Σ_rows g (both start at zero).
 */
function backwardFunction(): FunctionDef {
  const [X, Y, DY, SCALE, DX, DRES, DSCALE, DSHIFT, ROWS, GROUPS, RELU] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [r, g, sp, ap, bp] = [11, 12, 13, 14, 15];
  const grad = 16;
  const c = new Code();
  c.forUp(r, ROWS, () => {
    c.get(SCALE).set(sp).get(DSCALE).set(ap).get(DSHIFT).set(bp);
    c.forUp(g, GROUPS, () => {
      c.get(DY).v128Load().set(grad);
      c.get(RELU).if_().get(grad).get(Y).v128Load().v128Zero().f32x4Gt().v128And().set(grad).end();
      c.get(DX).get(grad).get(sp).v128Load().f32x4Mul().v128Store();
      c.get(DRES).if_().get(DRES).get(grad).v128Store().inc(DRES, 16).end();
      c.get(ap).get(ap).v128Load().get(grad).get(X).v128Load().f32x4Mul().f32x4Add().v128Store();
      c.get(bp).get(bp).v128Load().get(grad).f32x4Add().v128Store();
      c.inc(X, 16).inc(Y, 16).inc(DY, 16).inc(DX, 16).inc(sp, 16).inc(ap, 16).inc(bp, 16);
    });
  });
  return { name: 'affineBackward', params: new Array<ValType>(11).fill(I32), results: [], locals: [...new Array<ValType>(5).fill(I32), V128], body: c };
}

interface AffineExports {
  affineForward(x: number, scale: number, shift: number, residual: number, y: number, rows: number, groups: number, relu: number): void;
  affineBackward(x: number, y: number, dy: number, scale: number, dx: number, dres: number, dscale: number, dshift: number, rows: number, groups: number, relu: number): void;
}

const heapFunctions = () => [forwardFunction(), backwardFunction()];
const heapKernels = (backend: unknown) => heapModule<AffineExports>(backend, heapFunctions);

/** Whether the heap kernels take this x (wasm backend, float32, channels in fours). */
function usable(x: tf.Tensor): boolean {
  const ch = x.shape[x.rank - 1] ?? 0;
  return tf.getBackend() === 'wasm' && x.dtype === 'float32' && x.rank >= 1 && ch > 0 && ch % 4 === 0;
}

/** y = x·scale + shift (+ residual) (then ReLU), or null where the heap kernels do not apply. */
export function channelAffineOnHeap(x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, relu: boolean, residual?: tf.Tensor): tf.Tensor | null {
  // Shapes are checked by channelAffine (scale and shift [channels], residual like x).
  if (!usable(x) || scale.dtype !== 'float32' || shift.dtype !== 'float32' || (residual && residual.dtype !== 'float32')) return null;
  const backend = tf.backend();
  const k = heapKernels(backend);
  if (!k) return null;
  const wasm = asWasmBackend(backend, 'channelAffine');
  const ch = x.shape[x.rank - 1]!;
  const out = wasm.makeOutput([...x.shape], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const ptr = (t: tf.Tensor | tf.TensorInfo) => (wasm.typedArrayFromHeap(t as tf.TensorInfo) as Float32Array).byteOffset;
  k.affineForward(ptr(x), ptr(scale), ptr(shift), residual ? ptr(residual) : 0, ptr(out), x.size / ch, ch / 4, relu ? 1 : 0);
  return tf.engine().makeTensorFromTensorInfo(out, backend);
}

/** [dx, dscale, dshift] (and d residual = the masked dy, when `withResidual`) of channelAffine, or null where the heap kernels do not apply. */
export function channelAffineGradOnHeap(x: tf.Tensor, y: tf.Tensor, dy: tf.Tensor, scale: tf.Tensor, relu: boolean, withResidual: boolean): tf.Tensor[] | null {
  if (!usable(x) || dy.dtype !== 'float32' || dy.size !== x.size) return null;
  const backend = tf.backend();
  const k = heapKernels(backend);
  if (!k) return null;
  const wasm = asWasmBackend(backend, 'channelAffine');
  const ch = x.shape[x.rank - 1]!;
  const dx = wasm.makeOutput([...x.shape], 'float32');
  const dr = withResidual ? wasm.makeOutput([...x.shape], 'float32') : null;
  const ds = wasm.makeOutput([ch], 'float32');
  const db = wasm.makeOutput([ch], 'float32');
  const view = (t: tf.Tensor | tf.TensorInfo) => wasm.typedArrayFromHeap(t as tf.TensorInfo) as Float32Array;
  view(ds).fill(0);
  view(db).fill(0);
  const ptr = (t: tf.Tensor | tf.TensorInfo) => view(t).byteOffset;
  k.affineBackward(ptr(x), ptr(y), ptr(dy), ptr(scale), ptr(dx), dr ? ptr(dr) : 0, ptr(ds), ptr(db), x.size / ch, ch / 4, relu ? 1 : 0);
  const wrap = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info, backend);
  return [wrap(dx), wrap(ds), wrap(db), ...(dr ? [wrap(dr)] : [])];
}
