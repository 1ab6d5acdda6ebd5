import { HierError, writeFileAtomic } from '@hier-ts/core';
import type { HierModel } from './model.js';
import { BODY_PREFIX, HEAD_PREFIX } from './model.js';
import type { ParamStore } from './params.js';
import { type SafetensorsFile, parseSafetensors, readSafetensors, serializeSafetensors } from './safetensors.js';
import { ViTBody, resizeGrid } from './vit.js';

/** A named tensor in PyTorch layout, however it was obtained (safetensors file, hash weights, …). */
export interface TorchTensor {
  shape: readonly number[];
  values: Float32Array;
}

export interface LoadReport {
  /** Model parameters that received values (our names: body.* / last_layer.1.*). */
  loaded: string[];
  /** Model parameters the source did not provide (they keep their current values; strict mode throws). */
  missing: string[];
  /** Source keys that map to nothing in the model (strict mode throws). */
  unexpected: string[];
  /** Source keys dropped on purpose: classifiers (fc, head, head_dist), num_batches_tracked, HIER's layer_blocks aliases. */
  ignored: string[];
  /** pos_embed grids that were resampled (bicubic), as `name: [from] → [to]`. */
  resized: string[];
}

export interface LoadOptions {
  /** Throw when a model parameter is missing or a key is unexpected (default true). */
  strict?: boolean;
  /**
   * Whether the source may carry our head (`last_layer.1.*`). A plain timm/torchvision file never does, so
   * missing head keys are not an error (the head keeps its orthogonal init) — default: head keys are optional.
   */
  requireHead?: boolean;
  /** Name of the source, for messages. */
  source?: string;
}

type Target = { kind: 'body' | 'head'; name: string } | { kind: 'ignored' } | { kind: 'unexpected' };

/**
 * Maps a checkpoint key to our parameter. Accepts torchvision / timm / DINO body names as they are, HIER
 * checkpoints (`body.`, `body.model.` for ResNet, `last_layer.1.` for the head) and DDP's `module.` prefix.
 */
export function mapCheckpointKey(rawKey: string, body: ParamStore): Target {
  let key = rawKey;
  while (key.startsWith('module.')) key = key.slice('module.'.length);
  if (key.endsWith('num_batches_tracked')) return { kind: 'ignored' };
  if (key.startsWith(HEAD_PREFIX)) return { kind: 'head', name: key.slice(HEAD_PREFIX.length) };
  // HIER's ResNet wrapper aliases layer1..4 as layer_blocks.{0..3}: the same tensors twice.
  if (key.startsWith('body.layer_blocks.')) return { kind: 'ignored' };
  if (key.startsWith('body.model.')) key = key.slice('body.model.'.length);
  else if (key.startsWith(BODY_PREFIX)) key = key.slice(BODY_PREFIX.length);
  if (body.entries.has(key)) return { kind: 'body', name: key };
  // The pretrained classifiers HIER replaces with Identity.
  if (/^(fc|head|head_dist)\.(weight|bias)$/.test(key)) return { kind: 'ignored' };
  return { kind: 'unexpected' };
}

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Loads PyTorch-layout tensors into a model. Everything is validated first (names, shapes, pos_embed grids); a
 * mismatch throws naming the first offending tensor and both shapes, and nothing is assigned.
 */
export function loadTensors(model: HierModel, tensors: ReadonlyMap<string, TorchTensor>, options: LoadOptions = {}): LoadReport {
  const strict = options.strict ?? true;
  const source = options.source ?? 'weights';
  const body = model.body.params;
  const head = model.head.params;
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], ignored: [], resized: [] };
  const plan: { store: ParamStore; name: string; values: Float32Array }[] = [];
  for (const [key, t] of tensors) {
    const target = mapCheckpointKey(key, body);
    if (target.kind === 'ignored') {
      report.ignored.push(key);
      continue;
    }
    if (target.kind === 'unexpected') {
      report.unexpected.push(key);
      continue;
    }
    const store = target.kind === 'body' ? body : head;
    const entry = store.entries.get(target.name);
    if (!entry) {
      report.unexpected.push(key);
      continue;
    }
    const numel = t.shape.reduce((p, d) => p * d, 1);
    if (numel !== t.values.length) {
      throw new HierError('E_WEIGHTS', `${source}: tensor '${key}' declares shape ${shapeStr(t.shape)} but holds ${t.values.length} values`);
    }
    let values = t.values;
    if (!sameShape(t.shape, entry.torchShape)) {
      const resized = target.name === 'pos_embed' ? resizePosEmbed(model, t, source, key) : null;
      if (!resized) {
        throw new HierError(
          'E_WEIGHTS',
          `${source} does not fit model '${model.name}': tensor '${key}' has shape ${shapeStr(t.shape)} in the file but ${shapeStr(entry.torchShape)} in the model (is it a checkpoint of another architecture?)`,
        );
      }
      values = resized;
      report.resized.push(`${key}: ${shapeStr(t.shape)} → ${shapeStr(entry.torchShape)}`);
    }
    plan.push({ store, name: target.name, values });
    report.loaded.push((target.kind === 'body' ? BODY_PREFIX : HEAD_PREFIX) + target.name);
  }
  const loadedSet = new Set(report.loaded);
  for (const n of body.entries.keys()) if (!loadedSet.has(BODY_PREFIX + n)) report.missing.push(BODY_PREFIX + n);
  const headLoaded = [...head.entries.keys()].some((n) => loadedSet.has(HEAD_PREFIX + n));
  if (headLoaded || options.requireHead) for (const n of head.entries.keys()) if (!loadedSet.has(HEAD_PREFIX + n)) report.missing.push(HEAD_PREFIX + n);
  if (strict && report.missing.length > 0) {
    throw new HierError(
      'E_WEIGHTS',
      `${source} does not fit model '${model.name}': ${report.missing.length} of its tensors are missing, first '${report.missing[0]}'${
        report.unexpected.length ? `; the file has ${report.unexpected.length} unknown keys, first '${report.unexpected[0]}'` : ''
      } (is it a checkpoint of another architecture?)`,
    );
  }
  if (strict && report.unexpected.length > 0) {
    throw new HierError('E_WEIGHTS', `${source}: ${report.unexpected.length} keys do not belong to model '${model.name}', first '${report.unexpected[0]}' (pass strict: false to ignore them)`);
  }
  for (const p of plan) p.store.assignTorch(p.name, p.values);
  return report;
}

function resizePosEmbed(model: HierModel, t: TorchTensor, source: string, key: string): Float32Array | null {
  if (!(model.body instanceof ViTBody)) return null;
  const vit = model.body;
  const [one, tokens, dim] = t.shape as [number, number, number];
  if (t.shape.length !== 3 || one !== 1 || dim !== vit.featureDim) return null;
  const prefix = vit.prefixTokens;
  const g = Math.round(Math.sqrt(tokens - prefix));
  if (g * g !== tokens - prefix) {
    throw new HierError('E_WEIGHTS', `${source}: '${key}' ${shapeStr(t.shape)} has ${tokens - prefix} patch tokens after ${prefix} prefix tokens, not a square grid`);
  }
  const [gh, gw] = vit.grid;
  // DINO passes a scale factor of (w0 + 0.1)/√N to F.interpolate instead of a size.
  const scale: [number, number] | undefined = vit.config.posEmbedResize === 'dino' ? [(gh + 0.1) / g, (gw + 0.1) / g] : undefined;
  const grid = resizeGrid(t.values.subarray(prefix * dim), [g, g], [gh, gw], dim, scale);
  const out = new Float32Array((prefix + gh * gw) * dim);
  out.set(t.values.subarray(0, prefix * dim));
  out.set(grid, prefix * dim);
  return out;
}

function fromSafetensors(file: SafetensorsFile): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const [name, e] of file.tensors) out.set(name, { shape: e.shape, values: e.values });
  return out;
}

/** Loads a safetensors file (path or bytes; F32/F16/BF16) into the model. */
export function loadWeights(model: HierModel, file: string | Uint8Array, options: LoadOptions = {}): LoadReport {
  const parsed = typeof file === 'string' ? readSafetensors(file) : parseSafetensors(file, options.source ?? '<buffer>');
  return loadTensors(model, fromSafetensors(parsed), { ...options, source: options.source ?? (typeof file === 'string' ? file : '<buffer>') });
}

/** Every variable of the model (incl. frozen ones and BN running stats) in PyTorch layout under our checkpoint names. */
export async function exportTensors(model: HierModel): Promise<Map<string, TorchTensor>> {
  const out = new Map<string, TorchTensor>();
  for (const [prefix, store] of [
    [BODY_PREFIX, model.body.params],
    [HEAD_PREFIX, model.head.params],
  ] as const) {
    for (const e of store.entries.values()) out.set(prefix + e.name, { shape: e.torchShape, values: await store.readTorch(e.name) });
  }
  return out;
}

/** Writes the model's weights as a safetensors file (atomically), loadable with `loadWeights` and by PyTorch. */
export async function saveWeights(model: HierModel, file: string, options: { dtype?: 'F32' | 'F16' } = {}): Promise<void> {
  const tensors = await exportTensors(model);
  const bytes = serializeSafetensors(tensors, { dtype: options.dtype, metadata: { format: 'pt', model: model.name, producer: '@hier-ts/backbones' } });
  await writeFileAtomic(file, bytes);
}
