import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('repeats for a seed and differs across seeds', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const xa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xa);
  });
  it('resumes exactly from its state', () => {
    const a = new Rng(3);
    a.normal();
    const snap = a.state();
    const ref = [a.normal(), a.next(), a.int(10)];
    const b = Rng.fromState(snap);
    expect([b.normal(), b.next(), b.int(10)]).toEqual(ref);
  });
  it('draws uniform integers and normals with the right moments', () => {
    const r = new Rng(1);
    const counts = new Array(4).fill(0);
    let s = 0;
    let s2 = 0;
    const n = 40000;
    for (let i = 0; i < n; i++) {
      counts[r.int(4)]++;
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    for (const c of counts) expect(Math.abs(c / n - 0.25)).toBeLessThan(0.01);
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.03);
  });
  it('samples without replacement', () => {
    const r = new Rng(2);
    const k = r.sampleWithoutReplacement(10, 10);
    expect([...k].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => r.sampleWithoutReplacement(3, 4)).toThrow(/cannot draw/);
  });
});
