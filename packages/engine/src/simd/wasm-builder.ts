/**
 * A minimal WebAssembly binary writer: just what our hand-scheduled SIMD kernels need (one imported memory,
 * i32/v128 locals, blocks and loops, loads/stores, a handful of f32x4 ops). Writing bytes directly keeps the
 * kernels free of a toolchain (no emscripten, no wat2wasm at build time) and lets us specialise a kernel for a
 * register tile chosen at run time.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

export function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const SIMD = 0xfd;

/** Function body builder; methods append one instruction each and return `this` for chaining. */
export class Code {
  readonly bytes: number[] = [];

  private simd(op: number, ...imm: number[]): this {
    this.bytes.push(SIMD, ...uleb(op), ...imm);
    return this;
  }

  get(local: number): this {
    this.bytes.push(0x20, ...uleb(local));
    return this;
  }
  set(local: number): this {
    this.bytes.push(0x21, ...uleb(local));
    return this;
  }
  tee(local: number): this {
    this.bytes.push(0x22, ...uleb(local));
    return this;
  }
  i32(v: number): this {
    this.bytes.push(0x41, ...sleb(v));
    return this;
  }
  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.bytes.push(0x43, ...b);
    return this;
  }
  add(): this {
    this.bytes.push(0x6a);
    return this;
  }
  sub(): this {
    this.bytes.push(0x6b);
    return this;
  }
  mul(): this {
    this.bytes.push(0x6c);
    return this;
  }
  shrU(): this {
    this.bytes.push(0x76);
    return this;
  }
  divU(): this {
    this.bytes.push(0x6e);
    return this;
  }
  and(): this {
    this.bytes.push(0x71);
    return this;
  }
  or(): this {
    this.bytes.push(0x72);
    return this;
  }
  shl(): this {
    this.bytes.push(0x74);
    return this;
  }
  /** i32 `select`: the first of two values when the i32 condition on top is non-zero, else the second. */
  select(): this {
    this.bytes.push(0x1b);
    return this;
  }
  ltS(): this {
    this.bytes.push(0x48);
    return this;
  }
  f32Add(): this {
    this.bytes.push(0x92);
    return this;
  }
  eqz(): this {
    this.bytes.push(0x45);
    return this;
  }
  eq(): this {
    this.bytes.push(0x46);
    return this;
  }
  leU(): this {
    this.bytes.push(0x4d);
    return this;
  }
  ltU(): this {
    this.bytes.push(0x49);
    return this;
  }
  gtS(): this {
    this.bytes.push(0x4a);
    return this;
  }
  /** Pushes a local plus a constant (address arithmetic). */
  getPlus(local: number, k: number): this {
    this.get(local);
    if (k !== 0) this.i32(k).add();
    return this;
  }
  /** local += k */
  inc(local: number, k: number): this {
    return this.get(local).i32(k).add().set(local);
  }
  /**
   * `for (counter = start; counter < limit; counter++) body()` over i32 locals: `start` pushes the first value
   * (default 0); the compare is unsigned unless `signed` (bounds that may be negative).
   */
  forUp(counter: number, limit: number, body: () => void, opts: { start?: () => void; signed?: boolean } = {}): this {
    if (opts.start) opts.start();
    else this.i32(0);
    this.set(counter);
    this.block().loop();
    this.get(counter).get(limit);
    if (opts.signed) this.ltS();
    else this.ltU();
    this.eqz().brIf(1);
    body();
    return this.inc(counter, 1).br(0).end().end();
  }
  /** `block` with no result. */
  block(): this {
    this.bytes.push(0x02, 0x40);
    return this;
  }
  loop(): this {
    this.bytes.push(0x03, 0x40);
    return this;
  }
  /** `if` with no result, or with one result of type `result`. */
  if_(result?: ValType): this {
    this.bytes.push(0x04, result ?? 0x40);
    return this;
  }
  else_(): this {
    this.bytes.push(0x05);
    return this;
  }
  end(): this {
    this.bytes.push(0x0b);
    return this;
  }
  br(depth: number): this {
    this.bytes.push(0x0c, ...uleb(depth));
    return this;
  }
  brIf(depth: number): this {
    this.bytes.push(0x0d, ...uleb(depth));
    return this;
  }
  f32Load(offset = 0): this {
    this.bytes.push(0x2a, 2, ...uleb(offset));
    return this;
  }
  f32Store(offset = 0): this {
    this.bytes.push(0x38, 2, ...uleb(offset));
    return this;
  }
  i32Load(offset = 0): this {
    this.bytes.push(0x28, 2, ...uleb(offset));
    return this;
  }
  i32Store(offset = 0): this {
    this.bytes.push(0x36, 2, ...uleb(offset));
    return this;
  }
  v128Load(offset = 0): this {
    return this.simd(0x00, 4, ...uleb(offset));
  }
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09, 2, ...uleb(offset));
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, 4, ...uleb(offset));
  }
  v128Zero(): this {
    return this.simd(0x0c, ...new Array<number>(16).fill(0));
  }
  /** v128.const of four equal float32 lanes. */
  f32x4Const(v: number): this {
    const b = [...new Uint8Array(new Float32Array([v, v, v, v]).buffer)];
    return this.simd(0x0c, ...b);
  }
  f32x4Abs(): this {
    return this.simd(0xe0);
  }
  /** Lane `lane` (0–3) of a v128 as an i32. */
  i32x4ExtractLane(lane: number): this {
    return this.simd(0x1b, lane);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  /** Lane-wise a > b of two f32x4 (all-ones lanes where true; false for NaN). */
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  /** Lane `lane` (0–3) of a v128 as an f32. */
  f32x4ExtractLane(lane: number): this {
    return this.simd(0x1f, lane);
  }
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  f32x4Ge(): this {
    return this.simd(0x46);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  v128Or(): this {
    return this.simd(0x50);
  }
  v128AnyTrue(): this {
    return this.simd(0x53);
  }
  i32x4Bitmask(): this {
    return this.simd(0xa4);
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  f32x4Max(): this {
    return this.simd(0xe9);
  }
  /** v128.bitselect(a, b, mask): bits of a where mask is 1, of b elsewhere. */
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  /** Shifts each i32 lane left by an i32 scalar operand. */
  i32x4Shl(): this {
    return this.simd(0xab);
  }
  /** v128.const of four int32 lanes. */
  i32x4ConstLanes(a: number, b: number, c: number, d: number): this {
    return this.simd(0x0c, ...new Uint8Array(new Int32Array([a, b, c, d]).buffer));
  }
  /** v128.const of four equal int32 lanes. */
  i32x4Const(v: number): this {
    const b = [...new Uint8Array(new Int32Array([v, v, v, v]).buffer)];
    return this.simd(0x0c, ...b);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  /** Relaxed fused multiply-add a·b + c (one rounding where the CPU has FMA). */
  f32x4RelaxedMadd(): this {
    return this.simd(0x105);
  }
}

export interface FunctionDef {
  name: string;
  params: ValType[];
  results: ValType[];
  /** Extra locals after the params, in order. */
  locals: ValType[];
  body: Code;
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/** A module importing `env.memory` (non-shared, `minPages` initial) and exporting every function by name. */
export function buildModule(functions: FunctionDef[], minPages: number): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))]);
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = vec(
    functions.map((f) => {
      // Locals are run-length encoded; consecutive equal types share one entry.
      const groups: number[][] = [];
      for (let i = 0; i < f.locals.length; ) {
        let j = i;
        while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
        groups.push([...uleb(j - i), f.locals[i]!]);
        i = j;
      }
      const body = [...vec(groups), ...f.body.bytes, 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}

/** The parts of the WebAssembly JS API we use (typed here: @types/node 20 does not declare the global). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Compiles and instantiates `bytes` against `memory` (imported as env.memory). */
export function instantiate(bytes: Uint8Array, memory: WasmMemory): Record<string, unknown> {
  return new wasmApi.Instance(new wasmApi.Module(bytes), { env: { memory } }).exports;
}
