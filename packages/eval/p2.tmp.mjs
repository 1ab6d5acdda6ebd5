import { Rng } from '@hier-ts/core';
import { initBackend } from '@hier-ts/engine';
import { knn, matrix } from './dist/index.js';
import { randomBallPoints } from './dist/testing.js';
await initBackend('wasm');
const n = Number(process.argv[2]), d = 512;
const x = randomBallPoints(new Rng(1), n, d, 0.1, 0.95);
for (const sim of ['cosine', 'poincare']) {
  const r = await knn(matrix(x, d), null, { k: Number(process.argv[3]), similarity: sim, workers: 0 });
  const p = r.engine.profile;
  console.log(sim, r.engine.seconds.toFixed(2), 'matmul', p.matmul.toFixed(2), 'select', p.select.toFixed(2), 'finish', p.finish.toFixed(2));
}
