import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * URL of a worker script that sits beside `importMetaUrl`. Node 20 cannot run TypeScript in a worker, so
 * when the caller runs from `src/*.ts` (tests, via vite) the compiled twin in `dist/` is used instead;
 * it exists because the test task depends on the build.
 */
export function resolveWorkerUrl(importMetaUrl: string, workerFileJs: string): URL {
  const here = new URL(workerFileJs, importMetaUrl);
  const herePath = fileURLToPath(here);
  if (fs.existsSync(herePath)) return here;
  const distPath = herePath.replace(/([\\/])src([\\/])/, '$1dist$2');
  if (distPath !== herePath && fs.existsSync(distPath)) return pathToFileURL(distPath);
  throw new Error(
    `worker script ${workerFileJs} not found beside ${fileURLToPath(importMetaUrl)} nor in dist/; run \`pnpm build\` first`,
  );
}

/**
 * The parent's Node flags minus `--conditions` / `-C`, for `new Worker(url, { execArgv })`. Workers run compiled
 * `dist/` code, so a parent's `--conditions @hier-ts/source` (vitest) must not reach them: under that condition
 * the workspace packages would resolve to TypeScript sources Node 20 cannot load.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--conditions' || a === '-C') {
      i++;
      continue;
    }
    if (a.startsWith('--conditions=') || a.startsWith('-C=')) continue;
    out.push(a);
  }
  return out;
}
