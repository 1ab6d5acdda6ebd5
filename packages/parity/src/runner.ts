/**
 * The parity runner behind `pnpm parity`: collects golden JSON documents, lets each registered suite classify
 * them, runs the matching suite and reports one line per case. Nothing here knows file names: suites decide
 * from the document (its `function`, params and inputs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import type { ParityCaseResult, ParitySuite } from '@hier-ts/engine';
import { hierSuite } from './suites/hier.js';
import { lossesSuite } from './suites/losses.js';
import { pmathSuite } from './suites/pmath.js';

/** The suites of this package (Poincaré ops, companion losses, HIER and the pipeline). */
export const BUILTIN_SUITES: readonly ParitySuite[] = [pmathSuite, lossesSuite, hierSuite];

/**
 * Built-in suites plus the backbone suite when `@hier-ts/backbones` exports `modelParitySuite` (loaded with a
 * guarded dynamic import so the tool works before that package provides it).
 */
export async function loadSuites(): Promise<{ suites: ParitySuite[]; notes: string[] }> {
  const suites = [...BUILTIN_SUITES];
  const notes: string[] = [];
  try {
    const specifier: string = '@hier-ts/backbones';
    const mod = (await import(specifier)) as { modelParitySuite?: ParitySuite };
    if (mod.modelParitySuite && typeof mod.modelParitySuite.classify === 'function') suites.push(mod.modelParitySuite);
    else notes.push('@hier-ts/backbones does not export modelParitySuite yet: backbone cases will be unmatched');
  } catch (err) {
    notes.push(`@hier-ts/backbones could not be loaded (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  return { suites, notes };
}

function isCaseFileName(name: string): boolean {
  return name.toLowerCase().endsWith('.json') && name.toLowerCase() !== 'index.json' && !name.toLowerCase().startsWith('readme');
}

/**
 * Every candidate `*.json` under the given files/folders (recursive, sorted; index.json and README skipped), each
 * file once even when two inputs reach it by different spellings (a folder and its subfolder, relative and absolute).
 */
export function collectFiles(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new HierError('E_PATH', `parity: '${p}' does not exist`);
    }
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else if (isCaseFileName(path.basename(p))) {
      const real = fs.realpathSync(p);
      if (!seen.has(real)) {
        seen.add(real);
        out.push(p);
      }
    }
  };
  for (const p of inputs) walk(p);
  return out;
}

export interface FileOutcome {
  file: string;
  status: 'ran' | 'auxiliary' | 'unmatched' | 'error';
  suite?: string;
  results: ParityCaseResult[];
  error?: string;
  seconds: number;
}

export interface ParityReport {
  outcomes: FileOutcome[];
  cases: number;
  failed: number;
  unmatched: number;
  errors: number;
  pass: boolean;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

/** One line per case: status, case id, function, then `name err/tol` for every comparison. */
export function formatCase(r: ParityCaseResult): string {
  const parts = r.comparisons.map((c) => `${c.name} ${fmt(c.maxAbsErr)}/${fmt(c.tolerance)}${c.pass ? '' : ' FAIL'}${c.note && !c.pass ? ` (${c.note})` : ''}`);
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.caseId}  ${r.fn}  ${parts.join('; ')}`;
}

export async function runParity(
  inputs: readonly string[],
  options: { log?: (line: string) => void; suites?: readonly ParitySuite[] } = {},
): Promise<ParityReport> {
  const log = options.log ?? (() => {});
  const suites = options.suites ?? (await loadSuites()).suites;
  const files = collectFiles(inputs);
  const outcomes: FileOutcome[] = [];
  for (const file of files) {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    let doc: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      doc = parsed as Record<string, unknown>;
    } catch (err) {
      const error = `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`;
      outcomes.push({ file, status: 'error', results: [], error, seconds: seconds() });
      log(`ERROR ${file}: ${error}`);
      continue;
    }
    let chosen: ParitySuite | null = null;
    let auxiliary: ParitySuite | null = null;
    for (const s of suites) {
      const kind = s.classify(doc, file);
      if (kind === 'case') {
        chosen = s;
        break;
      }
      if (kind === 'auxiliary' && !auxiliary) auxiliary = s;
    }
    if (!chosen) {
      if (auxiliary) {
        outcomes.push({ file, status: 'auxiliary', suite: auxiliary.name, results: [], seconds: seconds() });
        continue;
      }
      const fn = typeof doc.function === 'string' ? ` (function '${doc.function}')` : '';
      outcomes.push({ file, status: 'unmatched', results: [], error: `no suite handles ${file}${fn}`, seconds: seconds() });
      log(`UNMATCHED ${file}${fn}`);
      continue;
    }
    try {
      const results = await chosen.run(doc, { file, dir: path.dirname(file) });
      outcomes.push({ file, status: 'ran', suite: chosen.name, results, seconds: seconds() });
      for (const r of results) log(formatCase(r));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      outcomes.push({ file, status: 'error', suite: chosen.name, results: [], error, seconds: seconds() });
      log(`ERROR ${file} [${chosen.name}]: ${error}`);
    }
  }
  const all = outcomes.flatMap((o) => o.results);
  const failed = all.filter((r) => !r.pass).length;
  const unmatched = outcomes.filter((o) => o.status === 'unmatched').length;
  const errors = outcomes.filter((o) => o.status === 'error').length;
  return { outcomes, cases: all.length, failed, unmatched, errors, pass: failed === 0 && unmatched === 0 && errors === 0 && files.length > 0 };
}
