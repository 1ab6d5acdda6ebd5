import { describe, expect, it } from 'vitest';
import { ShuffledSampler, UniqueClassSampler, sequentialBatches } from './sampler.js';

// 30 classes with 4..9 images each, interleaved so "first appearance" order is not sorted order.
const labels: number[] = [];
for (let i = 0; i < 200; i++) labels.push((i * 7) % 30);

describe('UniqueClassSampler', () => {
  it('builds floor(N / (world·B)) batches of IPC consecutive images per distinct class', () => {
    const s = new UniqueClassSampler({ labels, batchSize: 20, imagesPerClass: 2, seed: 5 });
    expect(s.batchesPerEpoch).toBe(10);
    const batches = s.epoch(0);
    expect(batches.length).toBe(10);
    for (const b of batches) {
      expect(b.length).toBe(20);
      const cls = [];
      for (let k = 0; k < 20; k += 2) {
        expect(labels[b[k]!]).toBe(labels[b[k + 1]!]);
        cls.push(labels[b[k]!]);
      }
      expect(new Set(cls).size).toBe(10);
    }
  });

  it('draws classes with replacement only when more are needed than exist (Fashion-MNIST: 45 of 5)', () => {
    const few = Array.from({ length: 300 }, (_, i) => i % 5);
    const s = new UniqueClassSampler({ labels: few, batchSize: 90, imagesPerClass: 2, seed: 0 });
    expect(s.batchesPerEpoch).toBe(3);
    const b = s.epoch(0)[0]!;
    const cls = Array.from({ length: 45 }, (_, k) => few[b[2 * k]!]!);
    expect(new Set(cls).size).toBe(5);
    // Images are drawn with replacement: with 60 images per class over 3 batches, some pair repeats an image.
    const dupPairs = s.epoch(1).flatMap((bb) => Array.from({ length: 45 }, (_, k) => bb[2 * k] === bb[2 * k + 1]));
    expect(dupPairs.some(Boolean)).toBe(true);
  });

  it('gives each rank a disjoint contiguous slice of the same class draw', () => {
    const r0 = new UniqueClassSampler({ labels, batchSize: 10, imagesPerClass: 2, worldSize: 2, rank: 0, seed: 9 });
    const r1 = new UniqueClassSampler({ labels, batchSize: 10, imagesPerClass: 2, worldSize: 2, rank: 1, seed: 9 });
    const one = new UniqueClassSampler({ labels, batchSize: 20, imagesPerClass: 2, worldSize: 1, rank: 0, seed: 9 });
    expect(r0.batchesPerEpoch).toBe(10);
    const [a, b, g] = [r0.epoch(3), r1.epoch(3), one.epoch(3)];
    for (let i = 0; i < a.length; i++) {
      const ca = new Set(Array.from(a[i]!, (j) => labels[j]));
      const cb = new Set(Array.from(b[i]!, (j) => labels[j]));
      expect([...ca].some((c) => cb.has(c))).toBe(false);
      expect([...ca, ...cb].sort()).toEqual([...new Set(Array.from(g[i]!, (j) => labels[j]))].sort());
      // Both ranks use the same image-draw stream, as the official code does.
      expect(Array.from(a[i]!.slice(0, 10))).toEqual(Array.from(g[i]!.slice(0, 10)));
    }
  });

  it('resumes exactly from state() and differs across epochs and seeds', () => {
    const s = new UniqueClassSampler({ labels, batchSize: 20, imagesPerClass: 2, seed: 1 });
    const e0 = s.epoch(0);
    const saved = s.state();
    const e1 = s.epoch(1);
    const t = new UniqueClassSampler({ labels, batchSize: 20, imagesPerClass: 2, seed: 1 });
    t.setState(JSON.parse(JSON.stringify(saved)));
    expect(t.epoch(1).map((b) => Array.from(b))).toEqual(e1.map((b) => Array.from(b)));
    expect(e1.map((b) => Array.from(b))).not.toEqual(e0.map((b) => Array.from(b)));
    const other = new UniqueClassSampler({ labels, batchSize: 20, imagesPerClass: 2, seed: 2 });
    expect(other.epoch(0).map((b) => Array.from(b))).not.toEqual(e0.map((b) => Array.from(b)));
  });

  it('samples a subset of rows and returns dataset rows', () => {
    const rows = Array.from({ length: 100 }, (_, k) => 2 * k);
    const s = new UniqueClassSampler({ labels, rows, batchSize: 10, imagesPerClass: 2, seed: 3 });
    const viaMap = new UniqueClassSampler({ labels: rows.map((r) => labels[r]!), batchSize: 10, imagesPerClass: 2, seed: 3 });
    expect(s.batchesPerEpoch).toBe(10);
    expect(s.epoch(0).map((b) => Array.from(b))).toEqual(viaMap.epoch(0).map((b) => Array.from(b, (j) => rows[j]!)));
    expect(() => new UniqueClassSampler({ labels, rows: [500], batchSize: 2, imagesPerClass: 2 })).toThrow(/rows\[0\] = 500/);
  });

  it('rejects inconsistent settings', () => {
    expect(() => new UniqueClassSampler({ labels, batchSize: 9, imagesPerClass: 2 })).toThrow(expect.objectContaining({ code: 'SAMPLER_CONFIG' }));
    expect(() => new UniqueClassSampler({ labels, batchSize: 10, imagesPerClass: 2, worldSize: 2, rank: 2 })).toThrow(/rank 2/);
    expect(() => new UniqueClassSampler({ labels: [], batchSize: 10, imagesPerClass: 2 })).toThrow(/at least one/);
  });
});

describe('ShuffledSampler and sequential batches', () => {
  it('covers a permutation per epoch', () => {
    const s = new ShuffledSampler({ size: 10, batchSize: 3, seed: 4, dropLast: false });
    const e = s.epoch(0);
    expect(e.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(e.flatMap((b) => Array.from(b)).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new ShuffledSampler({ size: 10, batchSize: 3, seed: 4 }).epoch(0).length).toBe(3);
    expect(s.epoch(1).map((b) => Array.from(b))).not.toEqual(e.map((b) => Array.from(b)));
    expect(sequentialBatches([5, 6, 7], 2).map((b) => Array.from(b))).toEqual([[5, 6], [7]]);
  });
});
