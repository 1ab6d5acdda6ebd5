export {
  FLAGS,
  MODEL_NAMES,
  LOSS_NAMES,
  OPTIMIZER_NAMES,
  DATASET_NAMES,
  BACKEND_NAMES,
  TRANSPORT_NAMES,
  RESUME_CRITICAL,
  defaultConfig,
  findFlag,
  parseFlagValue,
  configFromFlags,
  validateConfig,
  formatFlagHelp,
  incompatibleFields,
  shouldEvaluate,
  evalStart,
  itersPerEpoch,
  worldSize,
  adamEps,
  type TrainConfig,
  type FlagSpec,
  type FlagName,
  type FlagType,
  type FlagValue,
  type ConfigContext,
} from './config.js';
export { FlatOptimizer, clampGradients, type OptimizerKind, type OptimizerOptions, type OptimizerState, type Segment } from './optim.js';
export { scheduleFromConfig, scheduleFactor, baseLr, groupLr, type ScheduleKind, type GroupName } from './schedule.js';
export { collectParams, FlatLayout, type TrainableParam } from './params.js';
export { embedBatch, lossGradients, backpropEmbeddings, fusedGradients, type LossSet, type LossGradients } from './step.js';
export {
  Replica,
  LOCAL_COLLECTIVE,
  reseedRng,
  type Collective,
  type ReplicaParts,
  type ReplicaFactory,
  type FactoryContext,
  type FactorySpec,
  type LocalBatch,
  type StepContext,
  type StepReport,
  type StepTimes,
  type ReplicaState,
} from './replica.js';
export { startReplicas, resolveTransport, LocalDriver, WorkerGroup, type ReplicaDriver, type WorkerGroupOptions } from './replicas.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  checkResumable,
  pruneCheckpoints,
  encodeSafetensors,
  decodeSafetensors,
  CHECKPOINT_SCHEMA,
  type Checkpoint,
  type CheckpointState,
} from './checkpoint.js';
export { train, type TrainData, type TrainDeps, type TrainResult, type EpochRecord, type EvalContext } from './train.js';
export { createToyModel, createToyLoss, createToyData, toyFactory, type ToyModelOptions, type ToyLossOptions, type ToyDataOptions, type ToyFactoryOptions } from './toy.js';
export { hierFactory, hierFactorySpec, type HierFactoryOptions } from './factory.js';
export { samplerData, type SamplerDataOptions } from './data.js';
export { evaluateWith, flattenEvalResult } from './evaluation.js';
