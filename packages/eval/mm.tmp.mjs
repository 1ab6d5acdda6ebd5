import { initBackend, tf } from '@hier-ts/engine';
await initBackend('wasm');
for (const T of [512, 1024, 2048]) {
  const a = tf.randomNormal([T, 512]); const b = tf.randomNormal([512, T]);
  let best = 1e9, bestRead = 1e9;
  for (let r = 0; r < 4; r++) {
    const t0 = performance.now();
    const s = tf.matMul(a, b);
    const t1 = performance.now();
    await s.data(); s.dispose();
    const t2 = performance.now();
    best = Math.min(best, t2 - t0); bestRead = Math.min(bestRead, t2 - t1);
  }
  console.log(T, 'GF/s', (2 * T * T * 512 / best / 1e6).toFixed(1), 'read ms', bestRead.toFixed(1), 'total ms', best.toFixed(1));
}
