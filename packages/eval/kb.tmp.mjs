import { Rng } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { knn, matrix } from './dist/index.js';
import { randomBallPoints } from './dist/testing.js';
await initBackend('wasm');
const n = Number(process.argv[2] ?? 8000), d = 512;
const x = randomBallPoints(new Rng(1), n, d, 0.1, 0.95);
for (const sim of ['cosine', 'poincare']) {
  for (const w of [Number(process.argv[3] ?? 2)]) {
    const t0 = performance.now();
    const r = await knn(matrix(x, d), null, { k: 1000, similarity: sim, workers: w });
    console.log(sim, 'workers', w, ((performance.now() - t0) / 1000).toFixed(2), 's', r.engine);
  }
}
