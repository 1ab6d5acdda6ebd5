/**
 * The contracts between hier-ts packages (design/architecture.md). They live here, at the bottom of the
 * dependency graph, so backbones, losses, eval and trainer agree without depending on each other.
 */
import type { tf } from './tf.js';

/** A batch of images as the data loader hands it to the trainer. */
export interface Batch {
  /** Float32 NHWC, normalised. */
  images: Float32Array;
  shape: [n: number, h: number, w: number, c: number];
  labels: Int32Array;
  /** Row indices in the source dataset (for debugging and exact resume). */
  indices: Int32Array;
}

export type ParamGroup = 'backbone' | 'head';

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** Backbone + head, as backbones builds it. */
export interface EmbeddingModel {
  readonly name: string;
  /** Embedding width. */
  readonly embeddingDim: number;
  /** Ball points when the head ends in ToPoincare. */
  embed(x: tf.Tensor4D, mode: 'train' | 'eval'): tf.Tensor2D;
  /** Trainable variables (frozen ones, e.g. ViT patch_embed, are excluded). */
  namedVariables(): (NamedVariable & { group: ParamGroup })[];
  /** Every variable including frozen ones and BN running statistics, for checkpoints. */
  stateVariables(): NamedVariable[];
  dispose(): void;
}

/** A metric-learning loss as the trainer uses it. */
export interface MetricLoss {
  readonly name: string;
  /** z: [B, D] embeddings, labels: [B] int32. Pure given its variables and RNG. */
  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar;
  /** Trainable loss parameters with their lr scale (PA proxies ×1e4, HIER proxies ×50). */
  namedVariables(): (NamedVariable & { lrScale: number })[];
  dispose(): void;
}

/** One compared tensor of a golden parity case. */
export interface ParityComparison {
  /** e.g. `outputs.out`, `grads.sum_out.x`. */
  name: string;
  maxAbsErr: number;
  /** The allowed max abs error (atol + rtol·max|ref|). */
  tolerance: number;
  pass: boolean;
  note?: string;
}

export interface ParityCaseResult {
  caseId: string;
  /** The golden file's `function` (or model name). */
  fn: string;
  comparisons: ParityComparison[];
  pass: boolean;
}

/**
 * Runs the cases of one parsed golden JSON document. Packages export a map from the golden `function`
 * (or schema kind) to a handler; the parity tool dispatches on it and never special-cases files.
 */
export type ParityHandler = (doc: Record<string, unknown>, ctx: { file: string; dir: string }) => Promise<ParityCaseResult[]>;

/**
 * A family of golden cases (e.g. Poincaré ops, losses, backbone forwards). The parity tool asks every suite to
 * classify each JSON document and runs it with the suite that says 'case'. 'auxiliary' marks data files that
 * cases read (such as a shared input image), which are not cases themselves.
 */
export interface ParitySuite {
  name: string;
  classify(doc: Record<string, unknown>, file: string): 'case' | 'auxiliary' | null;
  run: ParityHandler;
}
