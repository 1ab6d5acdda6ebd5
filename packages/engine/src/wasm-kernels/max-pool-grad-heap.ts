import { Code, type FunctionDef, I32, V128, type ValType } from '../simd/wasm-builder.js';
import { heapModule } from './util.js';

/**
 * MaxPoolGrad as one wasm SIMD loop on tfjs-backend-wasm's own heap (the module imports the backend's memory), four
 * channels at a time: per window, a running maximum and the address of its first occurrence (strict `>` from −∞,
 * the cpu backend's rule: ties go to the earliest position in row-major order, NaN never wins, a window without a
 * maximum passes nothing), then each lane's dy is added to dx at that address. Overlapping windows add up.
 *
 * Why: the JavaScript loop took ~29 ms of a ResNet-18@64 step at batch 32 (the stem's 3×3/2 pool, [32, 32, 32, 64])
 * and ~95 ms of a ResNet-50@224 step at batch 8.
 */
const P = { X: 0, DY: 1, DX: 2, N: 3, H: 4, W: 5, PIX: 6, OH: 7, OW: 8, FH: 9, FW: 10, SH: 11, SW: 12, TOP: 13, LEFT: 14, GROUPS: 15 } as const;
const PARAMS = Object.keys(P).length;

function maxPoolGradFunction(): FunctionDef {
  let next = PARAMS;
  const int = () => next++;
  const [b, yr, yc, r0, rMin, rMax, c0, cMin, cMax, r, col, g, xImg, dyp, rowPtr, addr, imgBytes, rowBytes, lane, shift] = Array.from({ length: 20 }, int);
  const ints = next - PARAMS;
  const vec = () => next++;
  const [best, at, v, mask, lanes, dyv] = Array.from({ length: 6 }, vec);
  const c = new Code();
  c.get(P.H).get(P.W).mul().get(P.PIX).mul().set(imgBytes);
  c.get(P.W).get(P.PIX).mul().set(rowBytes);
  // byte offsets of the four channels of a group
  c.i32x4ConstLanes(0, 4, 8, 12).set(lanes);
  c.get(P.DX).get(P.X).sub().set(shift);
  c.get(P.DY).set(dyp);
  c.forUp(b, P.N, () => {
    c.get(P.X).get(b).get(imgBytes).mul().add().set(xImg);
    c.forUp(yr, P.OH, () => {
      c.get(yr).get(P.SH).mul().get(P.TOP).sub().set(r0);
      c.get(r0).i32(0).get(r0).i32(0).gtS().select().set(rMin);
      c.get(r0).get(P.FH).add().get(P.H).get(r0).get(P.FH).add().get(P.H).ltS().select().set(rMax);
      c.forUp(yc, P.OW, () => {
        c.get(yc).get(P.SW).mul().get(P.LEFT).sub().set(c0);
        c.get(c0).i32(0).get(c0).i32(0).gtS().select().set(cMin);
        c.get(c0).get(P.FW).add().get(P.W).get(c0).get(P.FW).add().get(P.W).ltS().select().set(cMax);
        c.forUp(g, P.GROUPS, () => {
          c.f32x4Const(Number.NEGATIVE_INFINITY).set(best);
          c.v128Zero().set(at);
          c.forUp(r, rMax, () => {
            c.get(xImg).get(r).get(rowBytes).mul().add().get(g).i32(16).mul().add().set(rowPtr);
            c.forUp(col, cMax, () => {
              c.get(rowPtr).get(col).get(P.PIX).mul().add().set(addr);
              c.get(addr).v128Load().set(v);
              c.get(v).get(best).f32x4Gt().set(mask);
              c.get(v).get(best).get(mask).v128Bitselect().set(best);
              c.get(addr).i32x4Splat().get(lanes).i32x4Add().get(at).get(mask).v128Bitselect().set(at);
            }, { start: () => c.get(cMin), signed: true });
          }, { start: () => c.get(rMin), signed: true });
          c.get(dyp).v128Load().set(dyv);
          for (let l = 0; l < 4; l++) {
            // address 0 = no maximum (no tensor lives at heap address 0)
            c.get(at).i32x4ExtractLane(l).tee(lane).if_();
            c.get(lane).get(shift).add();
            c.get(lane).get(shift).add().f32Load().get(dyv).f32x4ExtractLane(l).f32Add();
            c.f32Store();
            c.end();
          }
          c.inc(dyp, 16);
        });
      });
    });
  });
  return {
    name: 'maxPoolGrad',
    params: new Array<ValType>(PARAMS).fill(I32),
    results: [],
    locals: [...new Array<ValType>(ints).fill(I32), ...new Array<ValType>(6).fill(V128)],
    body: c,
  };
}

interface MaxPoolGradExports {
  maxPoolGrad(...args: number[]): void;
}

const heapFunctions = () => [maxPoolGradFunction()];
export const maxPoolGradKernels = (backend: unknown) => heapModule<MaxPoolGradExports>(backend, heapFunctions);

export interface PoolGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** dx += scatter of dy to each window's first maximum, on the heap. `dx` must be zeroed; c must be a multiple of 4. */
export function maxPoolGradOnHeap(k: MaxPoolGradExports, x: Float32Array, dy: Float32Array, dx: Float32Array, p: PoolGeometry): void {
  k.maxPoolGrad(x.byteOffset, dy.byteOffset, dx.byteOffset, p.n, p.h, p.w, p.c * 4, p.oh, p.ow, p.fh, p.fw, p.sh, p.sw, p.top, p.left, p.c / 4);
}
