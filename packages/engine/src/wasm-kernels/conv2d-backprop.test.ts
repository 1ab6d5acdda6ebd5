import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { setConvGemmMaxMap } from './conv-gemm.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { stridedInputGrad } from './strided-input-grad.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: Pad;
}

const CASES: Case[] = [
  { name: '3x3 s1 same b2', x: [2, 9, 9, 4], k: 3, co: 5, stride: 1, pad: 'same' },
  { name: '3x3 s1 valid rect', x: [2, 7, 11, 3], k: 3, co: 4, stride: 1, pad: 'valid' },
  { name: '3x3 s2 same odd', x: [2, 9, 9, 4], k: 3, co: 3, stride: 2, pad: 'same' },
  { name: '3x3 s2 same even', x: [3, 8, 8, 3], k: 3, co: 4, stride: 2, pad: 'same' },
  { name: '3x3 s2 valid', x: [2, 10, 10, 3], k: 3, co: 2, stride: 2, pad: 'valid' },
  { name: '3x3 s3 same', x: [1, 10, 10, 2], k: 3, co: 3, stride: 3, pad: 'same' },
  { name: '5x5 s1 valid', x: [1, 12, 10, 3], k: 5, co: 2, stride: 1, pad: 'valid' },
  { name: '7x7 s2 same (stem)', x: [2, 16, 16, 3], k: 7, co: 4, stride: 2, pad: 'same' },
  { name: '7x7 s1 same', x: [1, 9, 9, 2], k: 7, co: 3, stride: 1, pad: 'same' },
  { name: '1x1 s1', x: [3, 6, 6, 8], k: 1, co: 4, stride: 1, pad: 'valid' },
  { name: '1x1 s2 same odd', x: [2, 7, 7, 8], k: 1, co: 5, stride: 2, pad: 'same' },
  { name: '1x1 s2 valid even', x: [2, 8, 8, 4], k: 1, co: 6, stride: 2, pad: 'valid' },
  { name: '3x3 s1 numeric pad 1', x: [2, 6, 6, 3], k: 3, co: 2, stride: 1, pad: 1 },
  { name: '3x3 s2 explicit pad', x: [2, 9, 8, 3], k: 3, co: 2, stride: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  // One input channel takes the shifted-copies product for dW (stride 1 only).
  { name: '1 channel 3x3 s1 pad 1 (cnn4 stem)', x: [3, 10, 9, 1], k: 3, co: 5, stride: 1, pad: 1 },
  { name: '1 channel 5x5 s1 valid', x: [2, 9, 11, 1], k: 5, co: 3, stride: 1, pad: 'valid' },
  { name: '1 channel 4x4 s1 same (asymmetric pad)', x: [2, 7, 8, 1], k: 4, co: 2, stride: 1, pad: 'same' },
  { name: '1 channel 3x3 s1 explicit pad', x: [2, 8, 7, 1], k: 3, co: 4, stride: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { name: '1 channel 3x3 s2 same', x: [2, 9, 9, 1], k: 3, co: 3, stride: 2, pad: 'same' },
  // ResNet layer3/layer4 geometry at 64 px (small maps, wide channels: the patch-GEMM path by default).
  { name: 'resnet 3x3 s1 pad 1 @4x4', x: [3, 4, 4, 40], k: 3, co: 48, stride: 1, pad: 1 },
  { name: 'resnet 3x3 s2 pad 1 @4x4→2x2', x: [2, 4, 4, 24], k: 3, co: 32, stride: 2, pad: 1 },
  { name: 'resnet 3x3 s1 pad 1 @2x2', x: [4, 2, 2, 64], k: 3, co: 40, stride: 1, pad: 1 },
  { name: '3x3 s2 pad 1 @5x3 rect', x: [2, 5, 3, 6], k: 3, co: 5, stride: 2, pad: 1 },
  { name: '1x1 s2 @4x4 (downsample)', x: [2, 4, 4, 16], k: 1, co: 24, stride: 2, pad: 0 },
  { name: '3x3 pad 3 > kernel @3x3', x: [2, 3, 3, 4], k: 3, co: 3, stride: 1, pad: 3 },
];

function outShape(c: Case): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x, [c.k, c.k, c.x[3], c.co], c.stride, 1, c.pad, 'floor');
  return info.outShape;
}

describe('Conv2DBackpropFilter / Conv2DBackpropInput on wasm match the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('are the hier-ts kernels (not stock ones) on wasm', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).toBe(conv2dBackpropFilterKernel.kernelFunc);
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).toBe(conv2dBackpropInputKernel.kernelFunc);
  });

  // Every case twice: on the XNNPACK-based paths (patch GEMM off) and as patch GEMMs (conv-gemm.ts, forced on).
  for (const [mode, maxMap] of [
    ['xnnpack', 0],
    ['patch gemm', Number.POSITIVE_INFINITY],
  ] as const)
  for (const c of CASES) {
    it(`${c.name} (${mode})`, async () => {
      const prev = setConvGemmMaxMap(maxMap);
      const rng = new Rng(7);
      const fShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.co];
      const dyShape = outShape(c);
      const xv = randomArray(rng, c.x.reduce((a, b) => a * b));
      const fv = randomArray(rng, fShape.reduce((a, b) => a * b));
      const dyv = randomArray(rng, dyShape.reduce((a, b) => a * b));
      const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: 'floor' };
      let result: { err: number; shapesMatch: boolean };
      try {
        result = await compareBackends(() => {
          const x = tf.tensor4d(xv, c.x);
          const f = tf.tensor4d(fv, fShape);
          const dy = tf.tensor(dyv, dyShape);
          const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor;
          const dX = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x }) as tf.Tensor;
          return [dW, dX];
        });
      } finally {
        setConvGemmMaxMap(prev);
      }
      const { err, shapesMatch } = result;
      expect(shapesMatch).toBe(true);
      expect(err).toBeLessThan(2e-5);
    });
  }

  it('takes the phase-decomposition path (no zero insertion) for every small strided case', async () => {
    await initBackend('wasm');
    for (const c of CASES.filter((k) => k.stride > 1 && k.k > 1)) {
      const info = tf.backend_util.computeConv2DInfo(c.x, [c.k, c.k, c.x[3], c.co], c.stride, 1, c.pad, 'floor');
      const dy = tf.ones(info.outShape) as tf.Tensor4D;
      const f = tf.ones([c.k, c.k, c.x[3], c.co]) as tf.Tensor4D;
      const before = wasmFootprint();
      let out: tf.TensorInfo | null = null;
      tf.tidy(() => {
        out = stridedInputGrad(dy, f, c.x, { sh: c.stride, sw: c.stride, top: info.padInfo.top, left: info.padInfo.left }, tf.backend());
      });
      expect(out, c.name).not.toBeNull();
      tf.engine().makeTensorFromTensorInfo(out as unknown as tf.TensorInfo, tf.backend()).dispose();
      expect(wasmFootprint()).toEqual(before);
      tf.dispose([dy, f]);
    }
  });

  for (const [mode, maxMap] of [
    ['xnnpack', 0],
    ['patch gemm', Number.POSITIVE_INFINITY],
  ] as const)
  it(`gives back every tensor and wasm buffer it allocates (${mode})`, async () => {
    await initBackend('wasm');
    const prev = setConvGemmMaxMap(maxMap);
    const rng = new Rng(1);
    const x = tf.tensor4d(randomArray(rng, 2 * 9 * 9 * 4), [2, 9, 9, 4]);
    const f = tf.tensor4d(randomArray(rng, 3 * 3 * 4 * 5), [3, 3, 4, 5]);
    const f1 = tf.tensor4d(randomArray(rng, 4 * 5), [1, 1, 4, 5]);
    const step = () => {
      for (const [filter, stride] of [
        [f, 2],
        [f, 1],
        [f1, 2],
        [f1, 1],
      ] as const) {
        const dy = tf.tidy(() => tf.onesLike(tf.conv2d(x, filter, stride, 'same')));
        const attrs = { strides: [stride, stride], pad: 'same', dataFormat: 'NHWC' };
        const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: filter.shape }) as tf.Tensor;
        const dX = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: x.shape }) as tf.Tensor;
        tf.dispose([dy, dW, dX]);
      }
    };
    step();
    const before = wasmFootprint();
    for (let i = 0; i < 3; i++) step();
    expect(wasmFootprint()).toEqual(before);
    // The inputs must still be readable: a missing incRef would have freed them.
    expect((await x.data()).length).toBe(2 * 9 * 9 * 4);
    tf.dispose([x, f, f1]);
    setConvGemmMaxMap(prev);
  });

  it('rejects NCHW and mismatched dy with a message naming the shapes', async () => {
    await initBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] }),
    ).toThrow(/dy \[1,4,4,3\].*expected dy \[1,5,5,3\]/);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
    ).toThrow(/NCHW/);
    tf.dispose([x, dy]);
  });
});
