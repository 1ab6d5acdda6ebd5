import { it } from 'vitest';
import { initBackend, tf } from '@hier-ts/engine';
import { createModel } from '../../../../packages/backbones/src/registry.js';

it('cnn4 step time', async () => {
  await initBackend('wasm');
  const m = createModel('cnn4', { imageSize: 28, inChannels: 1, embeddingDim: 128, seed: 0 });
  const vars = m.namedVariables().map((v) => v.variable);
  const B = 90;
  const x = tf.randomNormal([B, 28, 28, 1]) as tf.Tensor4D;
  const opt = tf.train.adam(1e-3);
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.embed(x, 'train'))) as tf.Scalar, vars);
    opt.applyGradients(grads);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    const t1 = performance.now();
    const e = m.embed(x, 'eval'); await e.data(); e.dispose();
    console.log(`step ${i}: train ${(t1 - t0).toFixed(0)} ms, eval fwd ${(performance.now() - t1).toFixed(0)} ms, tensors ${tf.memory().numTensors}`);
  }
  const prof = await tf.profile(() => { const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.embed(x, 'train'))) as tf.Scalar, vars); tf.dispose([value, ...Object.values(grads)]); });
  const agg: Record<string, number> = {};
  for (const k of prof.kernels) agg[k.name] = (agg[k.name] ?? 0) + (k.kernelTimeMs as number);
  console.log(Object.entries(agg).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k} ${v.toFixed(0)}`).join('\n'));
}, 300000);
