import { initBackend } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateWith } from './evaluation.js';
import { createToyData, createToyModel } from './toy.js';

describe('evaluateWith', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('runs @hier-ts/eval on the model and flattens the metrics', async () => {
    const d = createToyData({ numImages: 40, numClasses: 4, imageShape: [4, 4, 1], globalBatch: 8, ipc: 2, seed: 2 });
    const source = async function* () {
      for (let s = 0; s < 40; s += 10) {
        const images = new Float32Array(10 * 16);
        for (let i = 0; i < 10; i++) d.image(s + i, images, i * 16);
        yield { images, shape: [10, 4, 4, 1] as [number, number, number, number], labels: d.labels.slice(s, s + 10), indices: Int32Array.from({ length: 10 }, (_, i) => s + i) };
      }
    };
    const model = createToyModel({ inputSize: 16, hidden: 8, emb: 4, seed: 1 });
    const evaluate = evaluateWith(() => source(), 'cub', { workers: 0 });
    const m = await evaluate(model, { epoch: 0, saveEmbeddings: false, outputDir: '.' });
    expect(m['R@1']).toBeGreaterThan(0.25);
    expect(m['R@1']).toBeLessThanOrEqual(1);
    model.dispose();
  });
});
