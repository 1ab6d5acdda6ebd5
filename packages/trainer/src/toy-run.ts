/**
 * `node dist/toy-run.js '<json>'`: a complete toy training run in its own process. Tests kill it with SIGKILL
 * mid-epoch to prove that resuming from the last checkpoint reproduces an uninterrupted run exactly.
 */
import { initBackend } from '@hier-ts/engine';
import type { TrainConfig } from './config.js';
import { type ToyDataOptions, type ToyFactoryOptions, createToyData } from './toy.js';
import { train } from './train.js';

interface ToyRunSpec {
  config: TrainConfig;
  data: ToyDataOptions;
  factoryOptions: ToyFactoryOptions;
  /** Sleep after every step, so a test can land a kill inside an epoch. */
  stepDelayMs?: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ToyRunSpec;
  await initBackend(spec.config.backend as never);
  const result = await train(spec.config, {
    factory: { module: new URL('./toy.js', import.meta.url).href, export: 'toyFactory', options: spec.factoryOptions },
    data: createToyData(spec.data),
    onStep: spec.stepDelayMs ? () => new Promise((r) => setTimeout(r, spec.stepDelayMs)) : undefined,
  });
  process.stdout.write(`${JSON.stringify({ iterations: result.iterations, epochs: result.epochsRun })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
