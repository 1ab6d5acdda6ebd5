/**
 * `@hier-ts/engine/simd`: the FMA GEMM and the wasm writer on their own, without loading TensorFlow.js (worker
 * threads that only multiply — the exact kNN search — start ~0.4 s faster).
 */
export { relaxedSimdAvailable, SimdGemm, type SimdGemmOptions } from './gemm.js';
export { Code as WasmCode, type FunctionDef as WasmFunctionDef, I32 as WASM_I32, V128 as WASM_V128 } from './wasm-builder.js';
