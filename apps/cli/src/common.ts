/** Small helpers shared by the commands: backend announcement, paths, output folders, JSON files. */
import fs from 'node:fs';
import path from 'node:path';
import { HierError, writeFileAtomic } from '@hier-ts/core';
import type { FlagSpec } from './args.js';
import type { CliIo } from './cli.js';

export const BACKEND_FLAG: FlagSpec = {
  name: 'backend',
  type: 'string',
  default: 'auto',
  choices: ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'],
  help: 'tfjs backend: auto tries tfjs-node-gpu, tfjs-node, then wasm (cpu only on request)',
};

/** Activates a tfjs backend and prints which one and why (on stderr, so stdout stays machine-readable). */
export async function chooseBackend(request: string, io: CliIo): Promise<string> {
  const { initBackend } = await import('@hier-ts/engine');
  const choice = await initBackend(request as Parameters<typeof initBackend>[0]);
  io.stderr.write(`backend: ${choice.backend} (${choice.engine}); ${choice.reason}\n`);
  return choice.backend;
}

/** Refuses a path flag whose target is absent, naming the flag and what was expected there. */
export function requireExisting(flag: string, p: unknown, kind: 'file' | 'dir' | 'any' = 'any'): string {
  if (typeof p !== 'string' || p.length === 0) throw new HierError('E_FLAG_MISSING', `--${flag} is required`);
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new HierError('E_PATH', `--${flag} ${p} does not exist`);
  }
  if (kind === 'file' && !st.isFile()) throw new HierError('E_PATH', `--${flag} ${p} is not a file`);
  if (kind === 'dir' && !st.isDirectory()) throw new HierError('E_PATH', `--${flag} ${p} is not a folder`);
  return p;
}

/** Creates an output folder (and parents); refuses when the path is an existing file. */
export function ensureDir(flag: string, dir: string): string {
  const abs = path.resolve(dir);
  if (fs.existsSync(abs) && !fs.statSync(abs).isDirectory()) {
    throw new HierError('E_PATH', `--${flag} ${dir} exists and is not a folder`);
  }
  fs.mkdirSync(abs, { recursive: true });
  return abs;
}

/** Refuses an output file whose folder cannot be created. */
export function outputFile(flag: string, file: string): string {
  const abs = path.resolve(file);
  ensureDir(flag, path.dirname(abs));
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new HierError('E_PATH', `--${flag} ${file} is a folder, expected a file path`);
  return abs;
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new HierError('E_PATH', `${what} ${file} cannot be read`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new HierError('E_FORMAT', `${what} ${file} is not valid JSON (${(err as Error).message})`);
  }
}

/** Percent with two decimals, for tables. */
export function pct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '  -  ' : (100 * x).toFixed(2);
}
