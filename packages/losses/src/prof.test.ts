import { it } from 'vitest';
import { Rng } from '@hier-ts/core';
import { initBackend, tf } from '@hier-ts/engine';
import { toPoincare } from '@hier-ts/hyperbolic';
import { HIERLoss, hierTerm, gumbelRows } from './index.js';
it('prof', async () => {
  await initBackend('wasm');
  for (const kind of ['hash'] as const) {
    const spec = kind === 'hash' ? { kind, seed: 3 } : { kind };
    const loss = new HIERLoss({ numProxies: 512, dim: 128, rng: new Rng(1), gumbel: spec });
    const z = tf.variable(toPoincare(tf.randomNormal([90, 128], 0, 1, 'float32', 1), { c: 0.1, clipR: 2.3, riemannian: true }) as tf.Tensor2D);
    const labels = tf.tensor1d(Array.from({ length: 90 }, (_, i) => i >> 1), 'int32');
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      const f = tf.tidy(() => loss.compute(z, labels));
      const t1 = performance.now();
      f.dispose();
      const { value, grads } = tf.variableGrads(() => loss.compute(z, labels));
      await value.data();
      const t2 = performance.now();
      tf.dispose([value, ...Object.values(grads)]);
      console.log(kind, 'fwd', (t1 - t0).toFixed(0), 'fwd+bwd', (t2 - t1).toFixed(0), loss.lastParts);
    }
  }
});
