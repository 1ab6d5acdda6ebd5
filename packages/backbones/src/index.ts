export { createModel, listModels, modelInfo, type ModelInfo, type ModelOptions, type PretrainedSource } from './registry.js';
export { HierModel, BODY_PREFIX, HEAD_PREFIX } from './model.js';
export type { Body } from './body.js';
export type { Mode, Tap } from './layers.js';
export { HierHead, orthogonal, type HeadConfig } from './head.js';
export { ResNetBody, type ResNetConfig } from './resnet.js';
export { ViTBody, resizeGrid, type ViTConfig } from './vit.js';
export { Cnn4Body, type Cnn4Config } from './cnn4.js';
export { ParamStore, torchToTf, tfToTorch, type Layout, type ParamEntry } from './params.js';
export {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  f16ToF32,
  f32ToF16,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
  type TensorToWrite,
} from './safetensors.js';
export {
  loadWeights,
  loadTensors,
  saveWeights,
  exportTensors,
  mapCheckpointKey,
  type LoadOptions,
  type LoadReport,
  type TorchTensor,
} from './weights.js';
export { hashValues, checksumU32, HASH_KINDS, type HashKind } from './hash.js';
export { modelParitySuite, modelOptionsFromDoc, PARITY_RTOL_CPU, PARITY_RTOL_GPU } from './parity.js';
export const PACKAGE = '@hier-ts/backbones';
export { createTrainStep, trainStepFlopsPerImage, type TrainStepOptions } from './step.js';
