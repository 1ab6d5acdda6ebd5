import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { HierError } from '@hier-ts/core';
import { tf } from './tf.js';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';

export type BackendRequest = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendChoice {
  /** What was asked for. */
  requested: BackendRequest;
  /** The tfjs backend name now active ('tensorflow', 'wasm' or 'cpu'). */
  backend: string;
  /** Which engine package provides it. */
  engine: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node' | '@tensorflow/tfjs-backend-wasm' | '@tensorflow/tfjs (cpu)';
  /** Human-readable reason, printed by the CLI. */
  reason: string;
  /** Engines that were tried and skipped, with why. */
  skipped: string[];
}

const NATIVE = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

let current: BackendChoice | null = null;

/** The backend chosen by the last `initBackend` call, or null. */
export function currentBackend(): BackendChoice | null {
  return current;
}

/**
 * Resolves `requested` to a working tfjs backend and activates it. `auto` tries tfjs-node-gpu, then tfjs-node
 * (only when the user installed them; an installed-but-broken addon counts as absent), then wasm with our
 * training kernels, then cpu. Nothing is ever downloaded. An explicit request that cannot be met throws.
 */
export async function initBackend(requested: BackendRequest = 'auto'): Promise<BackendChoice> {
  if (!BACKEND_REQUESTS.includes(requested)) {
    throw new HierError(
      'E_BACKEND',
      `unknown backend '${String(requested)}'; expected one of ${BACKEND_REQUESTS.join(', ')}`,
    );
  }
  if (current && (current.requested === requested || current.backend === requested) && tf.getBackend() === current.backend) {
    return current;
  }
  const skipped: string[] = [];
  const order: Exclude<BackendRequest, 'auto'>[] =
    requested === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [requested];
  for (const candidate of order) {
    const attempt = await tryBackend(candidate);
    if (attempt.ok) {
      current = {
        requested,
        backend: tf.getBackend(),
        engine: attempt.engine,
        reason:
          requested === 'auto'
            ? `auto: ${attempt.why}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`
            : `requested explicitly: ${attempt.why}`,
        skipped,
      };
      return current;
    }
    skipped.push(`${candidate}: ${attempt.why}`);
    // A native addon that registered kernels and then failed leaves the registry half-filled; a second native
    // engine would only print "already registered" noise, so stop trying native engines after one failure.
    if (attempt.registeredSomething && candidate === 'tensorflow-gpu') order.splice(order.indexOf('tensorflow'), 1);
  }
  throw new HierError('E_BACKEND', `backend '${requested}' is not available: ${skipped.join('; ')}`);
}

type Attempt =
  | { ok: true; engine: BackendChoice['engine']; why: string }
  | { ok: false; why: string; registeredSomething?: boolean };

async function tryBackend(name: Exclude<BackendRequest, 'auto'>): Promise<Attempt> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const pkg = NATIVE[name];
    const located = locateNativeAddon(pkg);
    if (!located.ok) return { ok: false, why: located.why };
    try {
      // A variable specifier keeps bundlers and tsc from resolving an optional peer that is usually absent.
      const specifier: string = pkg;
      await import(specifier);
      const ok = await tf.setBackend('tensorflow');
      if (!ok) return { ok: false, why: `${pkg} loaded but its backend did not initialise`, registeredSomething: true };
      await tf.ready();
      return { ok: true, engine: pkg, why: `${pkg} is installed and its native addon loaded` };
    } catch (err) {
      return { ok: false, why: `${pkg} is installed but failed to load (${firstLine(err)})`, registeredSomething: true };
    }
  }
  if (name === 'wasm') {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmTrainingKernels();
      const ok = await tf.setBackend('wasm');
      if (!ok) return { ok: false, why: 'the wasm backend did not initialise' };
      await tf.ready();
      return { ok: true, engine: '@tensorflow/tfjs-backend-wasm', why: 'embedded wasm backend (SIMD) with hier-ts training kernels' };
    } catch (err) {
      return { ok: false, why: `wasm failed (${firstLine(err)})` };
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { ok: true, engine: '@tensorflow/tfjs (cpu)', why: 'pure-JavaScript cpu backend (slow; for tiny shapes)' };
}

/** Checks that an optional native engine is installed *and* has its compiled addon, without importing it. */
function locateNativeAddon(pkg: string): { ok: true; dir: string } | { ok: false; why: string } {
  const req = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = req.resolve(`${pkg}/package.json`);
  } catch {
    return { ok: false, why: `${pkg} is not installed` };
  }
  const dir = path.dirname(pkgJson);
  const libDir = path.join(dir, 'lib');
  const hasAddon =
    fs.existsSync(libDir) &&
    fs.readdirSync(libDir).some((d) => d.startsWith('napi-v') && fs.existsSync(path.join(libDir, d, 'tfjs_binding.node')));
  if (!hasAddon) return { ok: false, why: `${pkg} is installed but its native addon (lib/napi-v*/tfjs_binding.node) is missing` };
  return { ok: true, dir };
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}
