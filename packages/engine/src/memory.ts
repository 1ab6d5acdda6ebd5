import { tf } from './tf.js';

/**
 * Runs `step` `repeats` times and returns how many tensors were left alive per repetition after the first
 * (0 when nothing leaks). The first run is excluded because kernels and variables may allocate once.
 */
export async function tensorGrowthPerStep(step: () => unknown | Promise<unknown>, repeats = 3): Promise<number> {
  await step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) await step();
  return (tf.memory().numTensors - before) / repeats;
}
