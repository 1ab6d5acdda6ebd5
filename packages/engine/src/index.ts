export { tf } from './tf.js';
export {
  initBackend,
  currentBackend,
  BACKEND_REQUESTS,
  type BackendRequest,
  type BackendChoice,
} from './backend.js';
export { detach, straightThrough, readFloat32 } from './autograd.js';
export { tensorGrowthPerStep } from './memory.js';
export { registerWasmTrainingKernels, wasmKernelNames, type WasmKernel } from './wasm-kernels/index.js';
export type {
  Batch,
  EmbeddingModel,
  MetricLoss,
  NamedVariable,
  ParamGroup,
  ParityCaseResult,
  ParityComparison,
  ParityHandler,
  ParitySuite,
} from './contracts.js';
