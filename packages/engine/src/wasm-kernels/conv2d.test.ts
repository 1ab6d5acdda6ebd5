import { Rng } from '@hier-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareBackends, randomArray, wasmFootprint } from '../__fixtures__/compare.js';
import { initBackend } from '../backend.js';
import { tf } from '../tf.js';
import { type ConvGeometry, preferConvGemm, setConvGemmMaxMap } from './conv-gemm.js';
import { conv2dKernel, setPointwiseConvGemm } from './conv2d.js';
import { setConvIgemm } from './conv-igemm.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  name: string;
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
}

const CASES: Case[] = [
  { name: '3x3 s1 pad 1 @4x4 (resnet layer3)', x: [3, 4, 4, 40], k: [3, 3], co: 48, stride: 1, pad: 1 },
  { name: '3x3 s1 pad 1 @2x2 (resnet layer4)', x: [4, 2, 2, 64], k: [3, 3], co: 40, stride: 1, pad: 1 },
  { name: '3x3 s2 pad 1 @4x4→2x2', x: [2, 4, 4, 24], k: [3, 3], co: 32, stride: 2, pad: 1 },
  { name: '3x3 s2 same odd', x: [2, 9, 9, 4], k: [3, 3], co: 3, stride: 2, pad: 'same' },
  { name: '3x3 s1 valid rect', x: [2, 7, 11, 3], k: [3, 3], co: 4, stride: 1, pad: 'valid' },
  { name: '2x3 kernel s[2,1] same', x: [2, 6, 5, 5], k: [2, 3], co: 3, stride: [2, 1], pad: 'same' },
  { name: '7x7 s2 pad 3 (stem)', x: [2, 12, 12, 3], k: [7, 7], co: 8, stride: 2, pad: 3 },
  { name: '1x1 s2 @4x4 (downsample)', x: [2, 4, 4, 16], k: [1, 1], co: 24, stride: 2, pad: 0 },
  { name: '1x1 s1 @9x10 (bottleneck, one product)', x: [3, 9, 10, 40], k: [1, 1], co: 52, stride: 1, pad: 0 },
  { name: '1x1 s1 same', x: [2, 5, 5, 8], k: [1, 1], co: 13, stride: 1, pad: 'same' },
  { name: '3x3 explicit asymmetric pad', x: [2, 5, 6, 3], k: [3, 3], co: 2, stride: 2, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { name: '3x3 pad 3 > kernel', x: [2, 3, 3, 4], k: [3, 3], co: 3, stride: 1, pad: 3 },
  { name: '3x3 s1 pad 1 @9x10, 20 channels (resnet layer1-like: implicit gemm by default)', x: [3, 9, 10, 20], k: [3, 3], co: 24, stride: 1, pad: 1 },
  { name: '3x3 s2 same @11x11, 16 channels, odd output tail', x: [1, 11, 11, 16], k: [3, 3], co: 13, stride: 2, pad: 'same' },
  { name: '3x3 dilation 2 (stock path)', x: [2, 7, 7, 3], k: [3, 3], co: 4, stride: 1, pad: 'same', dilation: 2 },
];

describe('Conv2D on wasm matches the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is the hier-ts kernel on wasm', () => {
    expect(tf.getKernel('Conv2D', 'wasm')?.kernelFunc).toBe(conv2dKernel.kernelFunc);
  });

  for (const [mode, maxMap, pointwise, igemm] of [
    ['stock xnnpack', 0, false, 'off'],
    ['patch gemm', Number.POSITIVE_INFINITY, true, 'off'],
    ['implicit gemm', 0, false, 'always'],
    ['default dispatch', 64, true, 'auto'],
  ] as const) {
    for (const c of CASES) {
      it(`${c.name} (${mode})`, async () => {
        const rng = new Rng(11);
        const fShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.co];
        const xv = randomArray(rng, c.x.reduce((a, b) => a * b));
        const fv = randomArray(rng, fShape.reduce((a, b) => a * b));
        const prev = setConvGemmMaxMap(maxMap);
        const prevPointwise = setPointwiseConvGemm(pointwise);
        const prevIgemm = setConvIgemm(igemm);
        let result: { err: number; shapesMatch: boolean };
        try {
          result = await compareBackends(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(fv, fShape), c.stride, c.pad, 'NHWC', c.dilation ?? 1));
        } finally {
          setConvGemmMaxMap(prev);
          setPointwiseConvGemm(prevPointwise);
          setConvIgemm(prevIgemm);
        }
        expect(result.shapesMatch).toBe(true);
        expect(result.err).toBeLessThan(2e-5);
      });
    }
  }

  it('sends small maps and wide outputs to the patch GEMM, 64-channel large maps and huge patch matrices to XNNPACK', () => {
    const conv3 = (n: number, hw: number, ci: number, co: number, stride = 1): ConvGeometry => {
      const o = Math.ceil(hw / stride);
      return { n, h: hw, w: hw, ci, kh: 3, kw: 3, co, oh: o, ow: o, sh: stride, sw: stride, top: 1, left: 1 };
    };
    expect(preferConvGemm(conv3(64, 8, 128, 128))).toBe(true); // ResNet-18@64 layer2: small map
    expect(preferConvGemm(conv3(64, 16, 64, 64))).toBe(false); // ResNet-18@64 layer1
    expect(preferConvGemm(conv3(8, 56, 64, 64))).toBe(false); // ResNet-50@224 layer1
    expect(preferConvGemm(conv3(8, 14, 256, 256))).toBe(true); // ResNet-50@224 layer3: co 256
    expect(preferConvGemm(conv3(8, 56, 128, 128, 2))).toBe(true); // layer2's strided entry, 28×28 out
    expect(preferConvGemm(conv3(64, 56, 128, 128))).toBe(false); // patch matrix over 128 MB
    const prev = setConvGemmMaxMap(0);
    try {
      expect(preferConvGemm(conv3(8, 14, 256, 256))).toBe(false); // 0 turns the path off altogether
    } finally {
      setConvGemmMaxMap(prev);
    }
  });

  it('gives back every tensor and wasm buffer it allocates, and leaves its inputs intact', async () => {
    await initBackend('wasm');
    const prev = setConvGemmMaxMap(Number.POSITIVE_INFINITY);
    try {
      const rng = new Rng(3);
      const x = tf.tensor4d(randomArray(rng, 2 * 4 * 4 * 8), [2, 4, 4, 8]);
      const f = tf.tensor4d(randomArray(rng, 3 * 3 * 8 * 6), [3, 3, 8, 6]);
      const xBefore = await x.data();
      const step = () => {
        for (const stride of [1, 2]) tf.conv2d(x, f, stride, 1).dispose();
      };
      step();
      const before = wasmFootprint();
      for (let i = 0; i < 3; i++) step();
      expect(wasmFootprint()).toEqual(before);
      expect(Array.from(await x.data())).toEqual(Array.from(xBefore));
      tf.dispose([x, f]);
    } finally {
      setConvGemmMaxMap(prev);
    }
  });

  it('trains through the patch-GEMM path: gradients of a small-map conv match the cpu backend', async () => {
    const rng = new Rng(5);
    const xv = randomArray(rng, 3 * 4 * 4 * 12);
    const fv = randomArray(rng, 3 * 3 * 12 * 10);
    const prev = setConvGemmMaxMap(Number.POSITIVE_INFINITY);
    let result: { err: number; shapesMatch: boolean };
    try {
      result = await compareBackends(() => {
        const x = tf.tensor4d(xv, [3, 4, 4, 12]);
        const f = tf.tensor4d(fv, [3, 3, 12, 10]);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1))));
        return g([x, f]);
      });
    } finally {
      setConvGemmMaxMap(prev);
    }
    expect(result.shapesMatch).toBe(true);
    expect(result.err).toBeLessThan(2e-5);
  });
});
