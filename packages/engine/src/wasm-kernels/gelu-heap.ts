import { tf } from '../tf.js';
import { Code, type FunctionDef, I32, V128 } from '../simd/wasm-builder.js';
import { asWasmBackend, heapModule } from './util.js';

/**
 * Exact GELU and its derivative as wasm SIMD loops that run on tfjs-backend-wasm's own heap (the module imports the
 * backend's memory, so tensors are read and written where they live: no copies).
 *
 * Why: stock wasm computes erf and exp one float at a time through libm (~8 ms each for a ViT-Tiny/8 MLP hidden
 * tensor of 1.6 M floats), and the formula adds five more full passes; GELU forward + backward was ~13 % of a
 * ViT-Tiny step. Here one pass computes each, four floats at a time.
 *
 * Math (float32): Φ(x) = ½·(1 + erf(x/√2)) with erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, the formula
 * tfjs's cpu backend uses), whose exp(−z²) is exp(−x²/2), the same exponential the derivative's φ(x) needs; exp by
 * Cephes expf (range reduction n = round(v·log₂e), a degree-6 polynomial, 2ⁿ built in the exponent bits).
 * Forward y = x·Φ(x); backward dx = dy·(Φ(x) + x·φ(x)).
 */
const P = 0.3275911;
const A = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const LOG2E = Math.LOG2E;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
/** 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer, which its bits then hold as 0x4B400000 + n. */
const ROUND_MAGIC = 12582912;
const ROUND_MAGIC_BITS = 0x4b400000;

/** v128 locals of one lane group. */
const L = { x: 0, z: 1, t: 2, poly: 3, v: 4, n: 5, r: 6, p: 7, e: 8, phi: 9, m: 10 };

/**
 * Leaves Φ(x) in `phi` and exp(−x²/2) in `e` for the four floats in local `x` (locals are offsets from `base`).
 */
function emitPhi(c: Code, base: number): void {
  const l = (k: keyof typeof L) => base + L[k];
  // z = |x|/√2, t = 1/(1 + p·z)
  c.get(l('x')).f32x4Abs().f32x4Const(INV_SQRT2).f32x4Mul().set(l('z'));
  c.f32x4Const(1).f32x4Const(1).get(l('z')).f32x4Const(P).f32x4Mul().f32x4Add().f32x4Div().set(l('t'));
  // poly = ((((a5·t + a4)·t + a3)·t + a2)·t + a1)·t
  c.f32x4Const(A[4]!).set(l('poly'));
  for (let i = 3; i >= 0; i--) c.get(l('poly')).get(l('t')).f32x4Mul().f32x4Const(A[i]!).f32x4Add().set(l('poly'));
  c.get(l('poly')).get(l('t')).f32x4Mul().set(l('poly'));
  // e = exp(v), v = max(−z², −87): below that erfc(z)·½ is < 1e-38 and 2ⁿ would leave the normal range
  c.v128Zero().get(l('z')).get(l('z')).f32x4Mul().f32x4Sub().f32x4Const(-87).f32x4Max().set(l('v'));
  // n = round(v·log₂e) by adding 1.5·2²³ (the float's low mantissa bits then hold n, kept in `m` for 2ⁿ below)
  c.get(l('v')).f32x4Const(LOG2E).f32x4Mul().f32x4Const(ROUND_MAGIC).f32x4Add().set(l('m'));
  c.get(l('m')).f32x4Const(ROUND_MAGIC).f32x4Sub().set(l('n'));
  c.get(l('v')).get(l('n')).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(l('n')).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(l('r'));
  c.f32x4Const(EXP_POLY[0]!).set(l('p'));
  for (let i = 1; i < EXP_POLY.length; i++) c.get(l('p')).get(l('r')).f32x4Mul().f32x4Const(EXP_POLY[i]!).f32x4Add().set(l('p'));
  // p·r² + r + 1, times 2ⁿ = bits((n + 127) << 23)
  c.get(l('p')).get(l('r')).f32x4Mul().get(l('r')).f32x4Mul().get(l('r')).f32x4Add().f32x4Const(1).f32x4Add();
  c.get(l('m')).i32x4Const(127 - ROUND_MAGIC_BITS).i32x4Add().i32(23).i32x4Shl().f32x4Mul().set(l('e'));
  // h = ½·erfc(z) ≈ ½·poly·e; Φ = 1 − h for x ≥ 0, h below
  c.get(l('poly')).get(l('e')).f32x4Mul().f32x4Const(0.5).f32x4Mul().set(l('phi'));
  c.f32x4Const(1).get(l('phi')).f32x4Sub().get(l('phi')).get(l('x')).v128Zero().f32x4Ge().v128Bitselect().set(l('phi'));
}

/** Vectors of four floats per loop iteration: two independent chains keep the core busy through each one's latency. */
const UNROLL = 2;
const LOCALS = Object.keys(L).length;

/**
 * A loop over `groups` runs of UNROLL·4 floats. Params: `pointers` byte offsets (x first), then the group count.
 * Each iteration loads x, leaves Φ and e per vector (emitPhi), lets `store` write vector u from its locals, and
 * advances every pointer by one run.
 */
function groupLoop(name: string, pointers: number, store: (c: Code, locals: number, u: number) => void): FunctionDef {
  const X = 0;
  const N = pointers;
  const i = pointers + 1;
  const base = (u: number) => pointers + 2 + u * LOCALS;
  const c = new Code();
  c.block().loop();
  c.get(i).get(N).ltU().eqz().brIf(1);
  for (let u = 0; u < UNROLL; u++) c.get(X).v128Load(16 * u).set(base(u) + L.x);
  for (let u = 0; u < UNROLL; u++) emitPhi(c, base(u));
  for (let u = 0; u < UNROLL; u++) store(c, base(u), u);
  for (let p = 0; p < pointers; p++) c.inc(p, 16 * UNROLL);
  c.inc(i, 1).br(0).end().end();
  return { name, params: new Array(pointers + 1).fill(I32), results: [], locals: [I32, ...new Array(UNROLL * LOCALS).fill(V128)], body: c };
}

/** gelu(x, y, groups): y = x·Φ(x). */
const forwardFunction = () =>
  groupLoop('geluForward', 2, (c, l, u) => {
    const Y = 1;
    c.get(Y).get(l + L.x).get(l + L.phi).f32x4Mul().v128Store(16 * u);
  });

/** geluGrad(x, dy, dx, groups): dx = dy·(Φ(x) + x·φ(x)). */
const backwardFunction = () =>
  groupLoop('geluGrad', 3, (c, l, u) => {
    const [DY, DX] = [1, 2];
    c.get(DX);
    c.get(l + L.x).get(l + L.e).f32x4Mul().f32x4Const(INV_SQRT_2PI).f32x4Mul().get(l + L.phi).f32x4Add();
    c.get(DY).v128Load(16 * u).f32x4Mul().v128Store(16 * u);
  });

interface GeluExports {
  geluForward(x: number, y: number, groups: number): void;
  geluGrad(x: number, dy: number, dx: number, groups: number): void;
}

const heapFunctions = () => [forwardFunction(), backwardFunction()];
const heapKernels = (backend: unknown) => heapModule<GeluExports>(backend, heapFunctions);

/** Φ(x) and exp(−x²/2) for the scalar tail, by the same formulas in float64. */
function phiScalar(x: number): { phi: number; e: number } {
  const z = Math.abs(x) * INV_SQRT2;
  const t = 1 / (1 + P * z);
  const poly = ((((A[4]! * t + A[3]!) * t + A[2]!) * t + A[1]!) * t + A[0]!) * t;
  const e = Math.exp(-z * z);
  const h = 0.5 * poly * e;
  return { phi: x >= 0 ? 1 - h : h, e };
}

/**
 * GELU forward (`dy` undefined) or backward on the wasm heap, or null where this backend is not tfjs-backend-wasm
 * (or x is not float32). Returns a new tensor.
 */
export function geluOnWasmHeap(x: tf.Tensor, dy?: tf.Tensor): tf.Tensor | null {
  const backend = tf.backend();
  if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32' || (dy && (dy.dtype !== 'float32' || dy.size !== x.size))) return null;
  const kernels = heapKernels(backend);
  if (!kernels) return null;
  const wasm = asWasmBackend(backend, 'gelu');
  const out = wasm.makeOutput([...x.shape], 'float32');
  // Views after the allocation: heap growth detaches earlier ones.
  const xv = wasm.typedArrayFromHeap(x) as Float32Array;
  const ov = wasm.typedArrayFromHeap(out) as Float32Array;
  const dv = dy ? (wasm.typedArrayFromHeap(dy) as Float32Array) : null;
  const groups = Math.floor(x.size / (4 * UNROLL));
  if (dv) kernels.geluGrad(xv.byteOffset, dv.byteOffset, ov.byteOffset, groups);
  else kernels.geluForward(xv.byteOffset, ov.byteOffset, groups);
  for (let i = groups * 4 * UNROLL; i < x.size; i++) {
    const v = xv[i]!;
    const { phi, e } = phiScalar(v);
    ov[i] = dv ? dv[i]! * (phi + v * e * INV_SQRT_2PI) : v * phi;
  }
  return tf.engine().makeTensorFromTensorInfo(out, backend);
}
