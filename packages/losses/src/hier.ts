/**
 * The HIER loss (spec §2): hierarchical proxies Λ in the Poincaré ball, reciprocal-kNN triplets among the batch
 * and among the proxies, and the straight-through Gumbel LCA hinge on each.
 */
import { HierError, Rng } from '@hier-ts/core';
import { type MetricLoss, type NamedVariable, detach, tf } from '@hier-ts/engine';
import { distMatrix, toPoincare } from '@hier-ts/hyperbolic';
import { unaryCustomGrad } from './custom-grad.js';
import { type GumbelSpec, gumbelStream } from './gumbel.js';
import { type TermResult, type TermTriplets, hierTerm } from './hier-term.js';
import { type MinedTriplets, reciprocalKnnTriplets } from './miners/reciprocal-knn.js';
import { trainableVariable } from './proxies.js';
import { checkEmbeddings, checkFinite, checkInt, checkPositive, readLabels } from './validate.js';

export interface HierConfig {
  /** δ, the hinge margin (official default 0.1). */
  margin: number;
  /** τ dividing the LCA logits (0.1, not exposed by the official train.py). */
  tau: number;
  /** Curvature c > 0 (0.1). */
  c: number;
  /** Clip radius of the proxies' ToPoincare (2.3). */
  clipR: number;
  /** Mutual-kNN size (every official script uses 20; the forward default is 30). */
  topk: number;
  /** Triplets drawn per kept anchor (hard-coded 50 in the official forward). */
  tripletsPerAnchor: number;
}

export const HIER_DEFAULTS: HierConfig = { margin: 0.1, tau: 0.1, c: 0.1, clipR: 2.3, topk: 20, tripletsPerAnchor: 50 };

export interface HierCallOptions {
  /** Mining RNG (triplet draws). */
  rng: Rng;
  /** Gumbel noise source for the four streams of this call. */
  gumbel: GumbelSpec;
  /** Recorded triplets to use instead of mining: [batch, proxies]; null entries are mined. */
  triplets?: [TermTriplets | null, TermTriplets | null];
}

export interface HierParts {
  loss: tf.Scalar;
  /** Term 1: batch triplets, proxies as LCA candidates. */
  batchPart: tf.Scalar;
  /** Term 2: proxy triplets, proxies as LCA candidates. */
  proxyPart: tf.Scalar;
  lcasBall: tf.Tensor2D;
  distBatchProxy: tf.Tensor2D;
  distProxyProxy: tf.Tensor2D;
  /** What was mined (or injected) for [batch, proxies]. */
  mining: [MinedTriplets | TermTriplets, MinedTriplets | TermTriplets];
  /** LCA selections per term (filled when the term's forward runs). */
  selections: [TermResult | null, TermResult | null];
}

function checkConfig(cfg: HierConfig): void {
  checkPositive(cfg.margin, 'margin', 'HIERLoss', true);
  checkPositive(cfg.tau, 'tau', 'HIERLoss');
  if (!(cfg.c > 0)) {
    throw new HierError('E_CURVATURE', `HIERLoss: curvature c must be > 0 (the official c = 0 branch is dead code that yields NaN proxies), got ${cfg.c}`);
  }
  checkPositive(cfg.clipR, 'clipR', 'HIERLoss');
  checkInt(cfg.topk, 'topk', 'HIERLoss');
  checkInt(cfg.tripletsPerAnchor, 'tripletsPerAnchor', 'HIERLoss');
}

/** Similarity for batch mining: exp(−D_zz) + [y_a = y_b] in float32 arithmetic, as the official code has it. */
function batchSimilarity(dzz: ArrayLike<number>, labels: Int32Array): Float32Array {
  const n = labels.length;
  const s = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const e = Math.fround(Math.exp(-dzz[i * n + j]));
      s[i * n + j] = labels[i] === labels[j] ? e + 1 : e;
    }
  }
  return s;
}

function proxySimilarity(dpp: ArrayLike<number>): Float32Array {
  const s = new Float32Array(dpp.length);
  for (let i = 0; i < dpp.length; i++) s[i] = Math.exp(-dpp[i]);
  return s;
}

function checkTriplets(tr: TermTriplets, rows: number, what: string): void {
  const T = tr.anchor.length;
  if (tr.positive.length !== T || tr.negative.length !== T) {
    throw new HierError('E_SHAPE', `HIERLoss: injected ${what} triplets have lengths ${T}/${tr.positive.length}/${tr.negative.length}; they must match`);
  }
  for (const arr of [tr.anchor, tr.positive, tr.negative]) {
    for (let i = 0; i < arr.length; i++) {
      if (!(arr[i] >= 0 && arr[i] < rows)) {
        throw new HierError('E_RANGE', `HIERLoss: injected ${what} triplet index ${arr[i]} at position ${i} is outside [0, ${rows})`);
      }
    }
  }
}

function termOp(
  C: tf.Tensor2D,
  triplets: TermTriplets,
  gumbel: GumbelSpec,
  streams: [number, number],
  cfg: HierConfig,
  sink: (r: TermResult) => void,
): tf.Scalar {
  const [rows, cols] = C.shape;
  const op = unaryCustomGrad((c, save) => {
    const data = c.dataSync();
    const r = hierTerm(
      data,
      rows,
      cols,
      triplets,
      gumbelStream(gumbel, streams[0], cols),
      gumbelStream(gumbel, streams[1], cols),
      cfg.tau,
      cfg.margin,
      true,
    );
    sink(r);
    save([tf.tensor2d(r.grad as Float32Array, [rows, cols])]);
    return { value: tf.scalar(r.loss), gradFunc: (dy, saved) => tf.mul(dy, saved[0]) };
  });
  return op(C) as tf.Scalar;
}

/**
 * HIER on ball embeddings z [B, D] with raw proxies Λ [N, D] (mapped by ToPoincare(c, clipR, riemannian) here).
 * Pure given `call.rng` and `call.gumbel`; differentiable in z and Λ. Labels enter only through the mining bonus.
 */
export function hierLossParts(
  z: tf.Tensor2D,
  labels: tf.Tensor1D | ArrayLike<number>,
  lcasRaw: tf.Tensor2D,
  config: Partial<HierConfig>,
  call: HierCallOptions,
): HierParts {
  const cfg = { ...HIER_DEFAULTS, ...config };
  checkConfig(cfg);
  checkEmbeddings(lcasRaw, 'HIERLoss', undefined, 'proxies');
  checkEmbeddings(z, 'HIERLoss', lcasRaw.shape[1]);
  const B = z.shape[0];
  const N = lcasRaw.shape[0];
  const y = readLabels(labels, B, 'HIERLoss');
  const selections: [TermResult | null, TermResult | null] = [null, null];
  let mining: [MinedTriplets | TermTriplets, MinedTriplets | TermTriplets] | null = null;
  const parts = tf.tidy(() => {
    const P = toPoincare(lcasRaw, { c: cfg.c, clipR: cfg.clipR, riemannian: true }) as tf.Tensor2D;
    const dzp = distMatrix(z, P, cfg.c);
    const dpp = distMatrix(P, P, cfg.c, { self: true });
    const zd = detach(z);
    const dzz = distMatrix(zd, zd, cfg.c, { self: true });
    const injected = call.triplets ?? [null, null];
    let batchTriplets: MinedTriplets | TermTriplets;
    if (injected[0]) {
      checkTriplets(injected[0], B, 'batch');
      batchTriplets = injected[0];
    } else {
      const s1 = batchSimilarity(dzz.dataSync(), y);
      batchTriplets = reciprocalKnnTriplets(s1, B, cfg.topk, cfg.tripletsPerAnchor, call.rng);
    }
    let proxyTriplets: MinedTriplets | TermTriplets;
    if (injected[1]) {
      checkTriplets(injected[1], N, 'proxy');
      proxyTriplets = injected[1];
    } else {
      checkFinite(dpp, 'HIERLoss', 'proxy distances');
      const s2 = proxySimilarity(dpp.dataSync());
      proxyTriplets = reciprocalKnnTriplets(s2, N, cfg.topk, cfg.tripletsPerAnchor, call.rng);
    }
    mining = [batchTriplets, proxyTriplets];
    const batchPart = termOp(dzp, batchTriplets, call.gumbel, [0, 1], cfg, (r) => {
      selections[0] = r;
    });
    const proxyPart = termOp(dpp, proxyTriplets, call.gumbel, [2, 3], cfg, (r) => {
      selections[1] = r;
    });
    return {
      loss: tf.add(batchPart, proxyPart) as tf.Scalar,
      batchPart,
      proxyPart,
      lcasBall: P,
      distBatchProxy: dzp,
      distProxyProxy: dpp,
    };
  });
  return { ...parts, mining: mining as unknown as HierParts['mining'], selections };
}

export interface HierLossOptions extends Partial<HierConfig> {
  /** N, the number of hierarchical proxies (official default 512). */
  numProxies: number;
  /** D, the embedding width. */
  dim: number;
  /** Seeds the proxy initialisation, the mining draws and (unless `gumbel` is given) the Gumbel noise. */
  rng?: Rng;
  /** Gumbel noise source; default: a fork of `rng`. */
  gumbel?: GumbelSpec;
  /** Learning-rate multiplier reported for Λ (official: 50). */
  lrScale?: number;
  /** Variable name prefix. */
  name?: string;
}

/**
 * HIER as a `MetricLoss`: owns Λ (initialised N(0,1)·0.9·clipR/√D from the rng) and returns Term1 + Term2.
 * The trainer multiplies it by λ2 (0.5 in every official script).
 */
export class HIERLoss implements MetricLoss {
  readonly name: string;
  readonly config: HierConfig;
  readonly lcas: tf.Variable<tf.Rank.R2>;
  private readonly rng: Rng;
  private readonly gumbel: GumbelSpec;
  private readonly lrScale: number;
  /** The parts of the last `compute` call (numbers only, for logging). */
  lastParts: { batchPart: number; proxyPart: number; batchTriplets: number; proxyTriplets: number } | null = null;

  constructor(options: HierLossOptions) {
    if (options == null) throw new HierError('E_ARG', 'HIERLoss: options {numProxies, dim, ...} are required');
    checkInt(options.numProxies, 'numProxies', 'HIERLoss');
    checkInt(options.dim, 'dim', 'HIERLoss');
    this.config = { ...HIER_DEFAULTS, ...stripUndefined(options) };
    checkConfig(this.config);
    this.name = options.name ?? 'hier';
    this.rng = options.rng ?? new Rng(0);
    this.gumbel = options.gumbel ?? { kind: 'rng', rng: this.rng.fork() };
    this.lrScale = options.lrScale ?? 50;
    const { numProxies: n, dim: d } = options;
    const scale = (0.9 * this.config.clipR) / Math.sqrt(d);
    const init = new Float32Array(n * d);
    for (let i = 0; i < init.length; i++) init[i] = this.rng.normal() * scale;
    this.lcas = trainableVariable(tf.tensor2d(init, [n, d]), `${this.name}.lcas`);
  }

  /** All parts, with optional injected triplets / noise (parity and diagnostics). */
  computeParts(z: tf.Tensor2D, labels: tf.Tensor1D | ArrayLike<number>, overrides: Partial<HierCallOptions> = {}): HierParts {
    return hierLossParts(z, labels, this.lcas, this.config, {
      rng: overrides.rng ?? this.rng,
      gumbel: overrides.gumbel ?? this.gumbel,
      ...(overrides.triplets ? { triplets: overrides.triplets } : {}),
    });
  }

  compute(z: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    const parts = this.computeParts(z, labels);
    this.lastParts = {
      batchPart: parts.selections[0] ? (parts.selections[0] as TermResult).loss : 0,
      proxyPart: parts.selections[1] ? (parts.selections[1] as TermResult).loss : 0,
      batchTriplets: parts.mining[0].anchor.length,
      proxyTriplets: parts.mining[1].anchor.length,
    };
    tf.dispose([parts.batchPart, parts.proxyPart, parts.lcasBall, parts.distBatchProxy, parts.distProxyProxy]);
    return parts.loss;
  }

  namedVariables(): (NamedVariable & { lrScale: number })[] {
    return [{ name: `${this.name}.lcas`, variable: this.lcas, lrScale: this.lrScale }];
  }

  dispose(): void {
    this.lcas.dispose();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
