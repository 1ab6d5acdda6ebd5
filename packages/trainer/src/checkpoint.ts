/**
 * Checkpoints: a directory written atomically (writeDirAtomic) holding
 *   weights.safetensors — model state (incl. BN statistics), loss parameters and optimiser moments (F32);
 *   state.json          — schema, config, epoch/step position, optimiser step count, metrics, data/rng state.
 * Everything needed to continue a run exactly is in these two files.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { HierError, writeDirAtomic } from '@hier-ts/core';
import { type TrainConfig, incompatibleFields } from './config.js';
import type { ReplicaState } from './replica.js';

export const CHECKPOINT_SCHEMA = 1;

export interface CheckpointState {
  schema: number;
  config: TrainConfig;
  /** Next epoch to run and the step inside it (0 at an epoch boundary). */
  epoch: number;
  step: number;
  /** Global iterations done. */
  iteration: number;
  itersPerEpoch: number;
  optimizer: { kind: string; step: number; slots: string[] };
  metrics: { last: Record<string, number> | null; best: Record<string, number> | null; bestEpoch: number | null; bestRecall: number };
  /** Opaque data-pipeline state (sampler position), when the data source has one. */
  data?: unknown;
  reason: 'epoch' | 'best' | 'periodic' | 'nan' | 'final';
  createdAt: string;
}

export interface Checkpoint {
  state: CheckpointState;
  replica: ReplicaState;
}

interface StEntry {
  dtype: 'F32';
  shape: number[];
  data_offsets: [number, number];
}

/** Serialises named float32 tensors in the safetensors format. */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, StEntry | Record<string, string>> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new HierError('E_CHECKPOINT', `tensor ${name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // The data section starts 8-byte aligned, as the format recommends.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hb = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hb.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let o = 8 + hb.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), o);
    o += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, file = 'weights.safetensors'): { tensors: Record<string, { shape: number[]; data: Float32Array }>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new HierError('E_CHECKPOINT', `${file}: ${bytes.length} bytes is too short for a safetensors file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (8 + hlen > bytes.length) throw new HierError('E_CHECKPOINT', `${file}: header length ${hlen} exceeds the file (${bytes.length} bytes); truncated?`);
  let header: Record<string, StEntry>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + hlen)).toString('utf8'));
  } catch (err) {
    throw new HierError('E_CHECKPOINT', `${file}: unreadable header (${(err as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  let metadata: Record<string, string> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = e as unknown as Record<string, string>;
      continue;
    }
    if (e.dtype !== 'F32') throw new HierError('E_CHECKPOINT', `${file}: tensor ${name} has dtype ${e.dtype}; only F32 is written by the trainer`);
    const [s, t] = e.data_offsets;
    if (base + t > bytes.length) throw new HierError('E_CHECKPOINT', `${file}: tensor ${name} runs past the end of the file; truncated?`);
    const data = new Float32Array((t - s) / 4);
    new Uint8Array(data.buffer).set(bytes.subarray(base + s, base + t));
    tensors[name] = { shape: e.shape, data };
  }
  return { tensors, metadata };
}

/** Writes `dir` atomically: a reader sees the old checkpoint or the complete new one, never a mix. */
export async function saveCheckpoint(dir: string, ckpt: Checkpoint): Promise<void> {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = { ...ckpt.replica.tensors };
  for (const [slot, data] of Object.entries(ckpt.replica.optimizer.slots)) tensors[`optimizer.${slot}`] = { shape: [data.length], data };
  const state: CheckpointState = {
    ...ckpt.state,
    optimizer: { kind: ckpt.replica.optimizer.kind, step: ckpt.replica.optimizer.step, slots: Object.keys(ckpt.replica.optimizer.slots) },
  };
  await writeDirAtomic(dir, async (tmp) => {
    await fsp.writeFile(path.join(tmp, 'weights.safetensors'), encodeSafetensors(tensors, { format: 'hier-ts', schema: String(CHECKPOINT_SCHEMA) }));
    await fsp.writeFile(path.join(tmp, 'state.json'), `${JSON.stringify(state, null, 1)}\n`);
  });
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const statePath = path.join(dir, 'state.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(await fsp.readFile(statePath, 'utf8'));
  } catch (err) {
    throw new HierError('E_CHECKPOINT', `cannot read checkpoint ${statePath}: ${(err as Error).message}`);
  }
  if (state.schema !== CHECKPOINT_SCHEMA) throw new HierError('E_CHECKPOINT', `${statePath}: schema ${state.schema}, this trainer reads ${CHECKPOINT_SCHEMA}`);
  const wPath = path.join(dir, 'weights.safetensors');
  const { tensors } = decodeSafetensors(new Uint8Array(await fsp.readFile(wPath)), wPath);
  const slots: Record<string, Float32Array> = {};
  for (const s of state.optimizer.slots) {
    const t = tensors[`optimizer.${s}`];
    if (!t) throw new HierError('E_CHECKPOINT', `${wPath} lacks optimizer slot ${s}`);
    slots[s] = t.data;
    delete tensors[`optimizer.${s}`];
  }
  return { state, replica: { tensors, optimizer: { kind: state.optimizer.kind as never, step: state.optimizer.step, slots } } };
}

/** Refuses to resume with a config that would not continue the same run, naming every differing field. */
export function checkResumable(saved: CheckpointState, cfg: TrainConfig, dir: string): void {
  const diff = incompatibleFields(saved.config, cfg);
  if (diff.length) {
    throw new HierError('E_RESUME', `cannot resume from ${dir}: the config differs in ${diff.length} field(s) that change the run: ${diff.join('; ')}`);
  }
}

/** Numbered checkpoints `epoch-0040` beyond the newest `keep` are removed (best/last are separate folders). */
export async function pruneCheckpoints(root: string, keep: number): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch {
    return [];
  }
  const numbered = names.filter((n) => /^epoch-\d+$/.test(n)).sort();
  const drop = keep > 0 ? numbered.slice(0, Math.max(0, numbered.length - keep)) : numbered;
  for (const n of drop) await fsp.rm(path.join(root, n), { recursive: true, force: true });
  return drop;
}
