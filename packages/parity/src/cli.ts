#!/usr/bin/env node
/**
 * `pnpm parity <file-or-folder>...`: runs every golden case found under the arguments in float32 on the wasm
 * backend (or `--backend cpu|auto`) and exits 1 when a case fails or a document is matched by no suite.
 */
import { type BackendRequest, initBackend } from '@hier-ts/engine';
import { loadSuites, runParity } from './runner.js';

const USAGE = `usage: pnpm parity [--backend wasm|cpu|auto] <file-or-folder>...
Runs golden parity documents (*.json, recursively; index.json and README files skipped).
Prints one line per case (PASS/FAIL, case id, function, max-abs-error/tolerance per output and gradient).
Exit code 1 if any case fails, errors, or a document matches no suite.`;

async function main(argv: string[]): Promise<number> {
  let backend: BackendRequest = 'wasm';
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return 0;
    }
    if (a === '--backend') {
      backend = argv[++i] as BackendRequest;
      continue;
    }
    if (a.startsWith('--backend=')) {
      backend = a.slice('--backend='.length) as BackendRequest;
      continue;
    }
    if (a.startsWith('-')) {
      console.error(`parity: unknown flag '${a}'\n${USAGE}`);
      return 2;
    }
    paths.push(a);
  }
  if (paths.length === 0) {
    console.error(`parity: give at least one golden file or folder\n${USAGE}`);
    return 2;
  }
  const choice = await initBackend(backend);
  const { suites, notes } = await loadSuites();
  console.log(`backend: ${choice.backend} (${choice.engine}); float32; suites: ${suites.map((s) => s.name).join(', ')}`);
  for (const n of notes) console.log(`note: ${n}`);
  const t0 = performance.now();
  const report = await runParity(paths, { log: (l) => console.log(l), suites });
  if (report.outcomes.length === 0) console.log(`no golden *.json documents found under: ${paths.join(', ')}`);
  const aux = report.outcomes.filter((o) => o.status === 'auxiliary').length;
  console.log(
    `${report.pass ? 'OK' : 'FAILED'}: ${report.cases - report.failed}/${report.cases} cases passed, ${report.failed} failed, ` +
      `${report.unmatched} unmatched, ${report.errors} errors, ${aux} auxiliary (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return report.pass ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`parity: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
