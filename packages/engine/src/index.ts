export { tf } from './tf.js';
export {
  initBackend,
  currentBackend,
  BACKEND_REQUESTS,
  type BackendRequest,
  type BackendChoice,
} from './backend.js';
export { detach, straightThrough, readFloat32 } from './autograd.js';
export { explainWasmFailure, tensorGrowthPerStep, WASM_HEAP_CAP_BYTES, wasmHeapBytes } from './memory.js';
export { batchNormTrain, type BatchNormTrainResult } from './batch-norm.js';
export { attention, splitHeads, mergeHeads } from './attention.js';
export { gelu } from './gelu.js';
export { channelAffine } from './channel-affine.js';
export { layerNorm } from './layer-norm.js';
export { registerWasmTrainingKernels, setConvGemmMaxMap, setConvGemmMinChannels, setConvIgemm, type ConvIgemmMode, setConvWinograd, type ConvWinogradMode, setConvWinogradTile, type ConvWinogradTile, wasmKernelNames, type WasmKernel } from './wasm-kernels/index.js';
export { stockWasmKernel } from './wasm-kernels/stock.js';
export { countFlops, type FlopCount, measureFmaPeak, type FmaPeak, rooflineFigures, type RooflineFigures } from './roofline.js';
export { SimdGemm, relaxedSimdAvailable, type SimdGemmOptions, WasmCode, type WasmFunctionDef, WASM_I32, WASM_V128 } from './simd/index.js';
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
