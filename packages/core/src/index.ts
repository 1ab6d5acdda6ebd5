export { HierError, assert } from './errors.js';
export { writeFileAtomic, writeFileAtomicSync, writeDirAtomic } from './atomic.js';
export { Rng } from './rng.js';
export { ProgressBar, formatSeconds, type ProgressOptions } from './progress.js';
export { resolveWorkerUrl, workerExecArgv } from './worker-url.js';
export { PYTORCH_ANCHOR_SOURCE, PYTORCH_TRAIN_STEP_ANCHORS, machineInfo, timeMedian, type BenchRecord, type BenchmarkModule, type MachineInfo } from './bench.js';
