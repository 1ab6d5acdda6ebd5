import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import { type ParityCaseResult, type ParityComparison, type ParitySuite, tf } from '@hier-ts/engine';
import { type HashKind, HASH_KINDS, checksumU32, hashValues } from './hash.js';
import type { Mode, Tap } from './layers.js';
import type { HierModel } from './model.js';
import { HEAD_PREFIX } from './model.js';
import { createModel, listModels, type ModelOptions } from './registry.js';
import { parseSafetensors } from './safetensors.js';
import { loadTensors, type TorchTensor } from './weights.js';

/** Recommended tolerance for float32 CPU-class backends (golden/models/README.md), and for GPU ones. */
export const PARITY_RTOL_CPU = 2e-5;
export const PARITY_RTOL_GPU = 1e-3;

type Doc = Record<string, unknown>;
interface JsonTensor {
  shape: number[];
  data: number[];
}
interface JsonSummary {
  shape: number[];
  summary: true;
  numel: number;
  sum: number;
  sum_abs: number;
  max_abs: number;
  first: JsonTensor;
  sample_indices: number[];
  sample: JsonTensor;
  sums_01: JsonTensor;
}
interface ManifestEntry {
  name: string;
  shape: number[];
  kind: string;
  checksum_u32?: number;
}

const isModelDoc = (doc: Doc): boolean => typeof doc.function === 'string' && /backbone forward/i.test(doc.function) && Array.isArray(doc.params);
const isReaderDoc = (doc: Doc): boolean => typeof doc.function === 'string' && /safetensors reader conformance/i.test(doc.function);

function rtolForBackend(): number {
  const b = tf.getBackend();
  return b === 'webgl' || b === 'webgpu' ? PARITY_RTOL_GPU : PARITY_RTOL_CPU;
}

function compareArrays(name: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tolerance: number, note?: string): ParityComparison {
  if (ours.length !== ref.length) {
    return { name, maxAbsErr: Number.POSITIVE_INFINITY, tolerance, pass: false, note: `length ${ours.length} vs reference ${ref.length}` };
  }
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (!(d <= err)) err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
  }
  return { name, maxAbsErr: err, tolerance, pass: err <= tolerance, ...(note ? { note } : {}) };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Compares a full reference Tensor (rtol · max|ref|) or a TensorSummary (field by field) with our values. */
function compareTensor(name: string, ours: { shape: number[]; values: Float32Array }, ref: JsonTensor | JsonSummary, rtol: number): ParityComparison[] {
  const shapeOk = ours.shape.length === ref.shape.length && ours.shape.every((d, i) => d === ref.shape[i]);
  if (!shapeOk) {
    return [{ name, maxAbsErr: Number.POSITIVE_INFINITY, tolerance: 0, pass: false, note: `shape [${ours.shape.join(', ')}] vs reference [${ref.shape.join(', ')}]` }];
  }
  if (!('summary' in ref)) return [compareArrays(name, ours.values, ref.data, rtol * maxAbs(ref.data))];
  const v = ours.values;
  let sum = 0;
  const [d0, d1] = ref.shape as [number, number];
  const inner = v.length / (d0 * d1);
  const sums = new Float64Array(d0 * d1);
  for (let i = 0; i < d0 * d1; i++) {
    let s = 0;
    for (let k = i * inner; k < (i + 1) * inner; k++) s += v[k]!;
    sums[i] = s;
    sum += s;
  }
  const first = v.subarray(0, ref.first.data.length);
  const sample = ref.sample_indices.map((i) => v[i]!);
  return [
    compareArrays(`${name}.sum`, [sum], [ref.sum], rtol * ref.sum_abs),
    compareArrays(`${name}.sums_01`, sums, ref.sums_01.data, rtol * ref.sum_abs),
    compareArrays(`${name}.first`, first, ref.first.data, rtol * ref.max_abs),
    compareArrays(`${name}.sample`, sample, ref.sample.data, rtol * ref.max_abs),
  ];
}

const inputCache = new Map<string, { shape: number[]; nhwc: Float32Array }>();

/** Reads the input batch a doc references (relative to its folder) and converts NCHW → NHWC. */
function loadInput(doc: Doc, dir: string): { shape: number[]; nhwc: Float32Array; file: string } {
  const spec = (doc.inputs as { image?: { file?: string; checksum_u32?: number; hash_name?: string; kind?: string; shape?: number[]; data?: number[] } } | undefined)
    ?.image;
  if (!spec) throw new HierError('E_PARITY', `model doc '${String(doc.case_id)}' has no inputs.image`);
  // The image comes from a referenced file, inline data, or (failing both) the hash-v1 formula it names.
  const file = spec.file ? path.resolve(dir, spec.file) : `hash:${spec.hash_name}:${JSON.stringify(spec.shape)}`;
  let cached = inputCache.get(file);
  if (!cached) {
    let t: { shape: number[]; data: ArrayLike<number> } | undefined;
    if (spec.file) t = (JSON.parse(fs.readFileSync(file, 'utf8')) as { inputs?: { image?: JsonTensor } }).inputs?.image;
    else if (Array.isArray(spec.data) && spec.shape) t = { shape: spec.shape, data: spec.data };
    else if (spec.hash_name && spec.kind && spec.shape) t = { shape: spec.shape, data: hashValues(spec.hash_name, spec.shape, spec.kind as HashKind) };
    if (!t) throw new HierError('E_PARITY', `model doc '${String(doc.case_id)}': cannot obtain inputs.image (${file})`);
    const nchw = Float32Array.from(t.data);
    if (spec.checksum_u32 !== undefined && checksumU32(nchw) !== spec.checksum_u32) {
      throw new HierError('E_PARITY', `${file}: input checksum ${checksumU32(nchw)} differs from the doc's ${spec.checksum_u32}`);
    }
    const [n, c, h, w] = t.shape as [number, number, number, number];
    const nhwc = new Float32Array(nchw.length);
    for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) nhwc[((b * h + y) * w + x) * c + ch] = nchw[((b * c + ch) * h + y) * w + x]!;
    cached = { shape: [n, h, w, c], nhwc };
    inputCache.set(file, cached);
  }
  return { ...cached, file };
}

/** Model options derived from a golden doc's config (never from its file name). */
export function modelOptionsFromDoc(doc: Doc): { name: string; options: ModelOptions } {
  const cfg = (doc.config ?? {}) as Record<string, unknown>;
  const head = (doc.head_config ?? {}) as Record<string, number>;
  const imageShape = ((doc.inputs as { image?: { shape?: number[] } })?.image?.shape ?? []) as number[];
  const options: ModelOptions = {
    embeddingDim: head.emb ?? 128,
    hypC: head.hyp_c ?? 0.1,
    clipR: head.clip_r ?? 2.3,
    inChannels: imageShape[1] ?? 3,
    imageSize: imageShape[2],
  };
  const known = listModels();
  const candidates = [doc.case_id, doc.model].filter((x): x is string => typeof x === 'string').map((s) => s.split(/\s/)[0]!);
  const named = candidates.find((c) => known.includes(c));
  if (Array.isArray(cfg.layers)) {
    const bottleneck = /bottleneck/i.test(String(cfg.block ?? ''));
    options.resnetLayers = cfg.layers as [number, number, number, number];
    return { name: bottleneck ? 'resnet50' : 'resnet18', options };
  }
  if (typeof cfg.embed_dim === 'number') {
    Object.assign(options, {
      embedDim: cfg.embed_dim,
      depth: cfg.depth,
      numHeads: cfg.num_heads,
      mlpHidden: cfg.mlp_hidden,
      patchSize: cfg.patch,
      lnEps: cfg.ln_eps ?? 1e-6,
      qkvBias: cfg.qkv_bias ?? true,
    });
    const distilled = cfg.prefix_tokens === 2;
    const name = named && (named.startsWith('deit') === distilled) ? named : distilled ? 'deit_small_distilled_patch16_224' : 'vit_small_patch16_224';
    return { name, options };
  }
  throw new HierError('E_PARITY', `model doc '${String(doc.case_id)}': config has neither ResNet 'layers' nor ViT 'embed_dim'`);
}

function hashTensors(entries: ManifestEntry[], rename: (name: string) => string): { tensors: Map<string, TorchTensor>; badChecksums: string[] } {
  const tensors = new Map<string, TorchTensor>();
  const badChecksums: string[] = [];
  for (const e of entries) {
    if (!HASH_KINDS.includes(e.kind as HashKind)) throw new HierError('E_PARITY', `param '${e.name}' has unknown hash kind '${e.kind}'`);
    if (e.kind === 'count') continue;
    const values = hashValues(e.name, e.shape, e.kind as HashKind);
    if (e.checksum_u32 !== undefined && checksumU32(values) !== e.checksum_u32) badChecksums.push(e.name);
    tensors.set(rename(e.name), { shape: e.shape, values });
  }
  return { tensors, badChecksums };
}

/** Runs the model in each mode the outputs need, recording taps, and compares everything. */
async function runAndCompare(
  model: HierModel,
  input: { shape: number[]; nhwc: Float32Array },
  outputs: Record<string, JsonTensor>,
  intermediates: Record<string, JsonTensor | JsonSummary> | undefined,
  rtol: number,
  namePrefix: string,
): Promise<ParityComparison[]> {
  const modes = new Set<Mode>();
  for (const k of Object.keys(outputs)) modes.add(/_train$/.test(k) ? 'train' : 'eval');
  const comparisons: ParityComparison[] = [];
  const x = tf.tensor4d(input.nhwc, input.shape as [number, number, number, number]);
  try {
    for (const mode of [...modes].sort()) {
      const kept = new Map<string, tf.Tensor>();
      const wantInter = intermediates && mode === 'eval' ? intermediates : modes.size === 1 ? intermediates : undefined;
      const tap: Tap = (name, t, layout) => {
        if (kept.has(name)) return;
        if (name in outputs || `${name}_${mode}` in outputs || (wantInter && name in wantInter)) {
          kept.set(name, tf.keep(layout === 'nhwc' ? tf.transpose(t, [0, 3, 1, 2]) : tf.clone(t)));
        }
      };
      const z = model.embed(x, mode, tap);
      kept.set('head', z);
      try {
        for (const [key, ref] of Object.entries(outputs)) {
          const m = /_(train|eval)$/.exec(key);
          if ((m ? m[1] : 'eval') !== mode) continue;
          const base = m ? key.slice(0, -m[0].length) : key;
          const t = kept.get(base);
          if (!t) {
            comparisons.push({ name: `${namePrefix}outputs.${key}`, maxAbsErr: Number.POSITIVE_INFINITY, tolerance: 0, pass: false, note: 'not produced by the model' });
            continue;
          }
          comparisons.push(...compareTensor(`${namePrefix}outputs.${key}`, { shape: t.shape, values: (await t.data()) as Float32Array }, ref, rtol));
        }
        if (wantInter) {
          for (const [key, ref] of Object.entries(wantInter)) {
            const t = kept.get(key);
            if (!t) {
              comparisons.push({ name: `${namePrefix}intermediates.${key}`, maxAbsErr: Number.POSITIVE_INFINITY, tolerance: 0, pass: false, note: 'not produced by the model' });
              continue;
            }
            comparisons.push(...compareTensor(`${namePrefix}intermediates.${key}`, { shape: t.shape, values: (await t.data()) as Float32Array }, ref, rtol));
          }
        }
      } finally {
        for (const t of kept.values()) t.dispose();
      }
    }
  } finally {
    x.dispose();
  }
  return comparisons;
}

async function runModelDoc(doc: Doc, dir: string): Promise<ParityCaseResult[]> {
  const rtol = rtolForBackend();
  const caseId = String(doc.case_id ?? doc.model ?? 'model');
  const { name, options } = modelOptionsFromDoc(doc);
  const input = loadInput(doc, dir);
  // The golden head is named like a Linear `head.{weight,bias}`; ours is HIER's `last_layer.1.{weight,bias}`.
  const head = hashTensors((doc.head_params ?? []) as ManifestEntry[], (n) => HEAD_PREFIX + n.slice(n.lastIndexOf('.') + 1));
  const results: ParityCaseResult[] = [];
  const model = createModel(name, options);
  try {
    const variants: { id: string; tensors: Map<string, TorchTensor>; outputs: Record<string, JsonTensor>; checks: ParityComparison[] }[] = [];
    const files = doc.files as Record<string, { file: string; sha256?: string; tensors?: { name: string; checksum_u32_of_float32_values?: number }[]; outputs: Record<string, JsonTensor> }> | undefined;
    if (files && typeof files === 'object') {
      for (const [id, f] of Object.entries(files)) {
        const fpath = path.resolve(dir, f.file);
        const bytes = fs.readFileSync(fpath);
        const checks: ParityComparison[] = [];
        if (f.sha256) {
          const sha = createHash('sha256').update(bytes).digest('hex');
          checks.push({ name: `${id}.sha256`, maxAbsErr: sha === f.sha256 ? 0 : 1, tolerance: 0, pass: sha === f.sha256, ...(sha === f.sha256 ? {} : { note: `sha256 ${sha}` }) });
        }
        const parsed = parseSafetensors(bytes, fpath);
        const tensors = new Map<string, TorchTensor>();
        let bad = 0;
        for (const t of f.tensors ?? []) {
          const e = parsed.tensors.get(t.name);
          if (!e || (t.checksum_u32_of_float32_values !== undefined && checksumU32(e.values) !== t.checksum_u32_of_float32_values)) bad++;
        }
        checks.push({ name: `${id}.tensor_checksums`, maxAbsErr: bad, tolerance: 0, pass: bad === 0, note: `${bad} of ${(f.tensors ?? []).length} tensors differ bitwise` });
        for (const [k, e] of parsed.tensors) tensors.set(k, { shape: e.shape, values: e.values });
        variants.push({ id: `${caseId}.${id}`, tensors, outputs: f.outputs, checks });
      }
    } else {
      const body = hashTensors(doc.params as ManifestEntry[], (n) => n);
      const checks: ParityComparison[] = [
        { name: 'params.hash_checksums', maxAbsErr: body.badChecksums.length, tolerance: 0, pass: body.badChecksums.length === 0, ...(body.badChecksums.length ? { note: `first: ${body.badChecksums[0]}` } : {}) },
      ];
      variants.push({ id: caseId, tensors: body.tensors, outputs: doc.outputs as Record<string, JsonTensor>, checks });
    }
    for (const v of variants) {
      const all = new Map([...v.tensors, ...head.tensors]);
      const report = loadTensors(model, all, { strict: true, requireHead: true, source: `${caseId} (${v.id})` });
      const checks = [...v.checks];
      checks.push({ name: 'weights.loaded', maxAbsErr: report.missing.length, tolerance: 0, pass: report.missing.length === 0, note: `${report.loaded.length} loaded, ${report.ignored.length} ignored` });
      const intermediates = variants.length === 1 ? (doc.intermediates as Record<string, JsonTensor | JsonSummary> | undefined) : undefined;
      checks.push(...(await runAndCompare(model, input, v.outputs, intermediates, rtol, '')));
      results.push({ caseId: v.id, fn: String(doc.function), comparisons: checks, pass: checks.every((c) => c.pass) });
    }
  } finally {
    model.dispose();
  }
  return results;
}

async function runReaderDoc(doc: Doc, dir: string): Promise<ParityCaseResult[]> {
  const file = path.resolve(dir, String(doc.file));
  const bytes = fs.readFileSync(file);
  const parsed = parseSafetensors(bytes, file);
  const c: ParityComparison[] = [];
  const exact = (name: string, ok: boolean, note?: string): void => {
    c.push({ name, maxAbsErr: ok ? 0 : 1, tolerance: 0, pass: ok, ...(note && !ok ? { note } : {}) });
  };
  if (doc.header_len !== undefined) exact('header_len', parsed.headerLength === doc.header_len, `got ${parsed.headerLength}`);
  if (doc.data_start !== undefined) exact('data_start', parsed.dataStart === doc.data_start, `got ${parsed.dataStart}`);
  if (doc.metadata) exact('metadata', JSON.stringify(parsed.metadata) === JSON.stringify(doc.metadata), JSON.stringify(parsed.metadata));
  const tensors = (doc.tensors ?? {}) as Record<string, { dtype: string; shape: number[]; values?: number[]; values_as_float32?: number[]; bits_u16?: number[]; data_offsets?: number[] }>;
  exact('tensor_count', parsed.tensors.size === Object.keys(tensors).length, `got ${parsed.tensors.size}`);
  for (const [name, ref] of Object.entries(tensors)) {
    const e = parsed.tensors.get(name);
    if (!e) {
      exact(`${name}`, false, 'missing');
      continue;
    }
    exact(`${name}.dtype`, e.dtype === ref.dtype, e.dtype);
    exact(`${name}.shape`, JSON.stringify(e.shape) === JSON.stringify(ref.shape), JSON.stringify(e.shape));
    if (ref.data_offsets) exact(`${name}.data_offsets`, JSON.stringify(e.dataOffsets) === JSON.stringify(ref.data_offsets), JSON.stringify(e.dataOffsets));
    if (ref.bits_u16) exact(`${name}.bits_u16`, JSON.stringify([...(e.bits16 ?? [])]) === JSON.stringify(ref.bits_u16));
    if (e.int64 && ref.values) {
      exact(`${name}.values`, e.int64.length === ref.values.length && ref.values.every((v, i) => BigInt(v) === e.int64![i]), String([...e.int64]));
      continue;
    }
    const want = ref.values_as_float32 ?? ref.values;
    if (want) {
      const w32 = Float32Array.from(want);
      const same = w32.length === e.values.length && w32.every((v, i) => Object.is(v, e.values[i]));
      c.push({ ...compareArrays(`${name}.values`, e.values, w32, 0), pass: same });
    }
  }
  return [{ caseId: String(doc.case_id ?? 'safetensors'), fn: String(doc.function), comparisons: c, pass: c.every((x) => x.pass) }];
}

/**
 * Parity suite for golden/models: model documents (hash-v1 weights or real safetensors files → body, head and
 * intermediates) and safetensors reader conformance documents. Shared inputs are 'auxiliary'.
 */
export const modelParitySuite: ParitySuite = {
  name: 'backbones',
  classify(doc) {
    if (isModelDoc(doc) || isReaderDoc(doc)) return 'case';
    const fn = typeof doc.function === 'string' ? doc.function : '';
    const image = (doc.inputs as { image?: { data?: unknown } } | undefined)?.image;
    if (/input image/i.test(fn) || (image && Array.isArray(image.data) && !doc.params)) return 'auxiliary';
    // The folder index lists model files and their f32-vs-f64 errors; it is metadata, not a case.
    if (!fn && Array.isArray(doc.files) && (doc.files as { model?: unknown }[]).some((f) => typeof f?.model === 'string')) return 'auxiliary';
    return null;
  },
  async run(doc, ctx) {
    if (isReaderDoc(doc)) return runReaderDoc(doc, ctx.dir);
    if (isModelDoc(doc)) return runModelDoc(doc, ctx.dir);
    throw new HierError('E_PARITY', `${ctx.file}: not a backbones parity case (function ${JSON.stringify(doc.function)})`);
  },
};
