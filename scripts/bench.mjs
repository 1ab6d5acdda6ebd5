#!/usr/bin/env node
// Runs every package's benchmarks (dist/bench.js exporting runBenchmarks) and writes bench-results/latest.json.
// Usage: pnpm bench [--quick] [--only <package-substring>[,…]]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? (args[onlyIdx + 1] ?? '').split(',').filter(Boolean) : [];

const dirs = ['packages', 'apps'].flatMap((d) =>
  fs.readdirSync(path.join(root, d)).map((p) => path.join(root, d, p)),
);
const { machineInfo } = await import(pathToFileURL(path.join(root, 'packages/core/dist/index.js')).href);
const machine = machineInfo();
const records = [];
for (const dir of dirs) {
  const benchFile = path.join(dir, 'dist', 'bench.js');
  if (!fs.existsSync(benchFile)) continue;
  const name = path.basename(dir);
  if (only.length && !only.some((o) => name.includes(o))) continue;
  const mod = await import(pathToFileURL(benchFile).href);
  // @hier-ts/core's bench.js holds the shared record helpers, not benchmarks.
  if (typeof mod.runBenchmarks !== 'function') continue;
  console.error(`\n== ${name} benchmarks${quick ? ' (quick)' : ''}`);
  try {
    const recs = await mod.runBenchmarks({ quick, log: (l) => console.error(`  ${l}`) });
    for (const r of recs) records.push({ ...r, machine: r.machine ?? machine, package: name, measuredAt: new Date().toISOString(), ...(quick ? { quick: true } : {}) });
  } catch (err) {
    console.error(`  ${name}: benchmark failed: ${err?.stack ?? err}`);
    process.exitCode = 1;
  }
}
const outDir = path.join(root, 'bench-results');
fs.mkdirSync(outDir, { recursive: true });
const out = path.join(outDir, 'latest.json');
// With --only, records of the packages not re-run are kept from the previous report (marked by their timestamp).
if (only.length && fs.existsSync(out)) {
  try {
    const previous = JSON.parse(fs.readFileSync(out, 'utf8'));
    const rerun = new Set(records.map((r) => r.package));
    for (const r of previous) if (!rerun.has(r.package)) records.push(r);
  } catch {
    // An unreadable previous report is simply replaced.
  }
}
const tmp = `${out}.tmp-${process.pid}`;
fs.writeFileSync(tmp, JSON.stringify(records, null, 2) + '\n');
fs.renameSync(tmp, out);

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
console.log(`\n${'id'.padEnd(44)} ${'value'.padStart(10)} unit        ${'anchor'.padStart(10)} ${'ratio'.padStart(7)}  target`);
for (const r of records) {
  console.log(
    // A quick (shrunk) run keeps the ids but is not a measurement of the target: say so, and show no target.
    `${(r.quick ? `${r.id} [quick]` : r.id).padEnd(44)} ${fmt(r.value).padStart(10)} ${r.unit.padEnd(11)} ${(r.anchor && !r.quick ? fmt(r.anchor.value) : '').padStart(10)} ${(r.ratio !== undefined && !r.quick ? fmt(r.ratio) : '').padStart(7)}  ${r.quick ? '(quick run: smaller problem, not comparable)' : (r.target ?? '')}`,
  );
}
console.log(`\n${records.length} records → ${path.relative(process.cwd(), out)} (${machine.cpus} × ${machine.cpuModel}, ${machine.node})`);
