import { describe, expect, it } from 'vitest';
import { defaultConfig } from './config.js';
import { firstIndex, shardRange } from './collective.js';
import { FlatOptimizer, clampGradients, prepareGradients } from './optim.js';
import { baseLr, groupLr, scheduleFactor, scheduleFromConfig } from './schedule.js';

const one = [{ name: 'p', offset: 0, size: 2 }];

describe('optimisers (PyTorch semantics, hand-computed)', () => {
  it('AdamW: decoupled decay before the step, bias correction, eps after sqrt(v_hat)', () => {
    const opt = new FlatOptimizer(2, { kind: 'adamw', weightDecay: 0.01, eps: 1e-4 });
    const p = Float32Array.from([1, -2]);
    opt.step(p, Float32Array.from([0.5, 0]), one, [0.1]);
    // p0: 1*(1-0.1*0.01)=0.999; m_hat=0.5, sqrt(v_hat)=0.5; step 0.1*0.5/(0.5+1e-4)
    expect(p[0]).toBeCloseTo(0.999 - (0.1 * 0.5) / 0.5001, 6);
    // zero gradient: only decay
    expect(p[1]).toBeCloseTo(-2 * 0.999, 6);
    // second step, g = -1 for p0: m = 0.9*0.05 + 0.1*(-1) = -0.055; v = 0.999*0.00025 + 0.001*1 = 0.00124975
    const before = p[0]!;
    opt.step(p, Float32Array.from([-1, 0]), one, [0.1]);
    const mhat = -0.055 / (1 - 0.81);
    const vhat = 0.00124975 / (1 - 0.999 ** 2);
    expect(p[0]).toBeCloseTo(before * 0.999 - (0.1 * mhat) / (Math.sqrt(vhat) + 1e-4), 6);
    expect(opt.steps).toBe(2);
  });

  it('lr 0 (warmup) leaves the parameter but still advances the moments', () => {
    const a = new FlatOptimizer(2, { kind: 'adamw', weightDecay: 0.01, eps: 1e-8 });
    const p = Float32Array.from([1, 1]);
    a.step(p, Float32Array.from([0.5, 0.5]), one, [0]);
    expect(Array.from(p)).toEqual([1, 1]);
    const st = a.state();
    expect(st.step).toBe(1);
    expect(st.slots.exp_avg![0]).toBeCloseTo(0.05, 7);
    expect(st.slots.exp_avg_sq![0]).toBeCloseTo(0.00025, 9);
  });

  it('Adam: L2 decay added to the gradient', () => {
    const opt = new FlatOptimizer(1, { kind: 'adam', weightDecay: 0.5, eps: 1e-8 });
    const p = Float32Array.from([2]);
    opt.step(p, Float32Array.from([1]), [{ name: 'p', offset: 0, size: 1 }], [0.01]);
    // g = 1 + 0.5*2 = 2 -> first step moves by lr*sign(g)
    expect(p[0]).toBeCloseTo(2 - 0.01 * (2 / (2 + 1e-8)), 7);
  });

  it('SGD momentum 0.9 with the buffer starting at the first gradient', () => {
    const opt = new FlatOptimizer(1, { kind: 'sgd', weightDecay: 0.1, momentum: 0.9 });
    const seg = [{ name: 'p', offset: 0, size: 1 }];
    const p = Float32Array.from([1]);
    opt.step(p, Float32Array.from([2]), seg, [0.1]);
    // g = 2 + 0.1 = 2.1; buf = 2.1; p = 1 - 0.21
    expect(p[0]).toBeCloseTo(0.79, 6);
    opt.step(p, Float32Array.from([1]), seg, [0.1]);
    // g = 1 + 0.079 = 1.079; buf = 0.9*2.1 + 1.079 ; p = 0.79 - 0.1*buf
    expect(p[0]).toBeCloseTo(0.79 - 0.1 * (0.9 * 2.1 + 1.079), 6);
  });

  it('state round-trips and per-segment learning rates apply', () => {
    const segs = [
      { name: 'a', offset: 0, size: 1 },
      { name: 'b', offset: 1, size: 1 },
    ];
    const a = new FlatOptimizer(2, { kind: 'adamw', weightDecay: 0, eps: 1e-8 });
    const p = Float32Array.from([0, 0]);
    a.step(p, Float32Array.from([1, 1]), segs, [0.1, 1]);
    expect(p[0]).toBeCloseTo(-0.1, 6);
    expect(p[1]).toBeCloseTo(-1, 6);
    const b = new FlatOptimizer(2, { kind: 'adamw', weightDecay: 0, eps: 1e-8 });
    b.load(a.state());
    const p2 = p.slice();
    a.step(p, Float32Array.from([0.3, -0.2]), segs, [0.1, 1]);
    b.step(p2, Float32Array.from([0.3, -0.2]), segs, [0.1, 1]);
    expect(Array.from(p2)).toEqual(Array.from(p));
    expect(() => new FlatOptimizer(2, { kind: 'sgd', weightDecay: 0 }).load(a.state())).toThrow(/optimizer/);
  });

  it('clamps element-wise to ±10', () => {
    const g = Float32Array.from([12, -30, 3, Number.NaN]);
    clampGradients(g);
    expect(Array.from(g.slice(0, 3))).toEqual([10, -10, 3]);
    expect(Number.isNaN(g[3])).toBe(true);
  });
});

describe('ZeRO-1 sharded update', () => {
  const segs = [
    { name: 'a', offset: 0, size: 37 },
    { name: 'b', offset: 37, size: 50 },
    { name: 'c', offset: 87, size: 13 },
  ];
  const noisy = (seed: number, n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.37) * (1 + (i % 5)));

  for (const kind of ['adamw', 'adam', 'sgd'] as const) {
    it(`${kind}: updating the shards separately equals one full update, bit for bit`, () => {
      const full = new FlatOptimizer(100, { kind, weightDecay: 0.01 });
      const sharded = new FlatOptimizer(100, { kind, weightDecay: 0.01 });
      const p1 = noisy(1, 100);
      const p2 = p1.slice();
      for (let t = 0; t < 3; t++) {
        const g = noisy(10 + t, 100);
        full.step(p1, g, segs, [0.1, 0.01, 1]);
        // Two "replicas" share the buffers here; each step call covers one shard.
        const [lo0, hi0] = shardRange(100, 0, 2);
        const [lo1, hi1] = shardRange(100, 1, 2);
        const half = new FlatOptimizer(100, { kind, weightDecay: 0.01 });
        half.load(sharded.state());
        sharded.step(p2, g, segs, [0.1, 0.01, 1], [lo0, hi0]);
        const before = p2.slice();
        half.step(p2, g, segs, [0.1, 0.01, 1], [lo1, hi1]);
        // the second shard's call touched nothing of the first shard
        expect(Array.from(p2.subarray(lo0, hi0))).toEqual(Array.from(before.subarray(lo0, hi0)));
        // assemble the moments as the driver does
        const st = sharded.state();
        for (const [k, v] of Object.entries(half.slotRange(lo1, hi1))) st.slots[k]!.set(v, lo1);
        sharded.load(st);
      }
      expect(Array.from(p2)).toEqual(Array.from(p1));
      expect(sharded.state()).toEqual(full.state());
      expect(() => full.step(p1, noisy(0, 100), segs, [0.1, 0.01, 1], [50, 101])).toThrow(/range/);
    });
  }

  it('shards cover the vector once, on 16-float boundaries', () => {
    for (const [n, size] of [[100, 2], [1001, 3], [5, 2], [11_176_512, 2]] as const) {
      let next = 0;
      for (let r = 0; r < size; r++) {
        const [lo, hi] = shardRange(n, r, size);
        expect(lo).toBe(next);
        if (hi < n) expect(hi % 16).toBe(0);
        next = hi;
      }
      expect(next).toBe(n);
    }
  });

  it('agreement on the first non-finite gradient takes the smallest index any replica found', () => {
    expect(firstIndex([-1, -1])).toBe(-1);
    expect(firstIndex([-1, 70])).toBe(70);
    expect(firstIndex([12, 70])).toBe(12);
    expect(firstIndex([0, -1, 3])).toBe(0);
  });

  it('prepareGradients = scale the model range, find the first non-finite value, clamp to ±10', () => {
    const base = Float32Array.from([0.3, 25, -40, Number.POSITIVE_INFINITY, 7, Number.NaN, -3, 11, 1e-3, -12]);
    for (const scale of [1, 0.5, 1 / 3]) {
      for (const [lo, hi] of [[0, 10], [4, 10], [0, 3], [6, 10]] as const) {
        const ref = base.slice();
        for (let i = 0; i < 8; i++) ref[i] = ref[i]! * scale; // model range [0, 8), stored as float32
        let bad = -1;
        for (let i = lo; i < hi; i++) {
          if (!Number.isFinite(ref[i]!)) {
            bad = i;
            break;
          }
        }
        const sub = ref.slice(lo, hi);
        clampGradients(sub);
        const g = base.slice();
        expect(prepareGradients(g, lo, hi, 0, 8, scale, 10)).toBe(bad);
        const got = Array.from(g.subarray(lo, hi));
        // with a non-finite entry the step is skipped, so only the detection matters
        if (bad < 0) expect(got).toEqual(Array.from(sub));
        // outside [lo, hi) nothing changes
        expect(Array.from(g.subarray(0, lo))).toEqual(Array.from(base.subarray(0, lo)));
      }
    }
    const g = base.slice();
    expect(prepareGradients(g, 0, 10, 0, 8, 1, Number.POSITIVE_INFINITY)).toBe(3);
    expect(prepareGradients(g, 0, 3, 0, 8, 1, Number.POSITIVE_INFINITY)).toBe(-1);
    expect(g[1]).toBe(25); // no clipping
    expect(prepareGradients(Float32Array.from([1, 2, -3]), 0, 3, 0, 3, 1, Number.POSITIVE_INFINITY)).toBe(-1);
    expect(prepareGradients(Float32Array.from([1, Number.NEGATIVE_INFINITY]), 0, 2, 0, 2, 1, Number.POSITIVE_INFINITY)).toBe(1);
  });
});

describe('learning-rate rule', () => {
  it('scales by global batch / 180 and applies group scales and warmup', () => {
    const cfg = { ...defaultConfig(), lr: 1e-4, batch_size: 90, devices: 2, warmup_epochs: 1, epochs: 10 };
    expect(baseLr(cfg)).toBeCloseTo(1e-4, 12);
    expect(baseLr({ ...cfg, devices: 1 })).toBeCloseTo(5e-5, 12);
    expect(groupLr(cfg, 'pretrained_params', 1, 3, 10)).toBe(0);
    expect(groupLr(cfg, 'pretrained_params', 1, 10, 10)).toBeCloseTo(1e-4, 12);
    expect(groupLr(cfg, 'proxies', 1e4, 3, 10)).toBeCloseTo(1, 9);
    expect(groupLr(cfg, 'lcas', 50, 3, 10)).toBeCloseTo(5e-3, 9);
  });

  it('step schedule decays by gamma every k epochs of iterations', () => {
    const s = scheduleFromConfig({ lr_decay: '5', lr_decay_gamma: 0.5, min_lr_scale: 0.1 });
    expect(scheduleFactor(s, 0, 32, 3200)).toBe(1);
    expect(scheduleFactor(s, 159, 32, 3200)).toBe(1);
    expect(scheduleFactor(s, 160, 32, 3200)).toBe(0.5);
    expect(scheduleFactor(s, 3199, 32, 3200)).toBeCloseTo(0.5 ** 19, 12);
  });

  it('cosine goes from 1 to min_lr_scale without a ramp', () => {
    const s = scheduleFromConfig({ lr_decay: 'cosine', lr_decay_gamma: null, min_lr_scale: 0.1 });
    expect(scheduleFactor(s, 0, 10, 100)).toBeCloseTo(1, 12);
    expect(scheduleFactor(s, 50, 10, 100)).toBeCloseTo(0.55, 12);
    expect(scheduleFactor(s, 100, 10, 100)).toBeCloseTo(0.1, 12);
    expect(scheduleFactor(scheduleFromConfig({ lr_decay: null, lr_decay_gamma: null, min_lr_scale: 0.1 }), 7, 10, 100)).toBe(1);
  });
});
