import { configFromFlags, validateConfig } from '@hier-ts/trainer';
import { describe, expect, it } from 'vitest';
import { DEMO_RECIPE, demoConfig } from './commands/demo.js';

const base = { output_dir: '/tmp/x', epochs: 2, lr: 1e-3, lambda2: 0.5, seed: 0, backend: 'wasm', quick: false, resume: false };

describe('demo recipe', () => {
  it.each([1, 2, 3, 4, 7])('splits the reference batch of 90 over %i replica(s) into a valid trainer config', (devices) => {
    const cfg = validateConfig(configFromFlags(demoConfig({ ...base, devices }, '/tmp/x.arrow')), { numClasses: 5, numTrainImages: 30_000 });
    const global = cfg.batch_size * cfg.devices;
    expect(global).toBeLessThanOrEqual(DEMO_RECIPE.globalBatch);
    expect(global).toBeGreaterThan(DEMO_RECIPE.globalBatch - 2 * devices);
    expect(global % cfg.IPC).toBe(0);
    // lr as the reference at its own batch: the official rule's factor batch/lr_batch_ref is 1.
    expect(cfg.lr_batch_ref).toBe(global);
    expect(cfg).toMatchObject({ model: 'cnn4', image_size: 28, loss: 'PA', lambda2: 0.5, num_hproxies: 64, topk: 20, warmup_epochs: 0, emulate_world_size: 1 });
  });

  it('evaluates only after the last epoch, and --quick caps the run', () => {
    expect(demoConfig({ ...base, devices: 2, epochs: 3 }, 'f').eval_start).toBe(2);
    expect(demoConfig({ ...base, devices: 2, quick: true }, 'f')).toMatchObject({ epochs: 1, max_iters: 3, eval_start: 0 });
  });
});
