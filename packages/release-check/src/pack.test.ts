import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Manifest {
  name: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  bin?: Record<string, string>;
}

const publishable = ['packages', 'apps']
  .flatMap((d) => fs.readdirSync(path.join(root, d)).map((p) => path.join(root, d, p)))
  .filter((dir) => fs.existsSync(path.join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest }))
  .filter((p) => !p.manifest.private);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-pack-'));
const project = path.join(work, 'user-project');
const packed = new Map<string, { tarball: string; manifest: Manifest; files: string[] }>();

function linkThirdParty(fromPkgDir: string, dep: string): void {
  const target = path.join(project, 'node_modules', dep);
  if (fs.existsSync(target)) return;
  const req = createRequire(path.join(fromPkgDir, 'package.json'));
  let resolved: string;
  try {
    resolved = path.dirname(req.resolve(`${dep}/package.json`));
  } catch {
    // Some packages hide package.json behind their exports map; walk up from the entry point instead.
    let p = path.dirname(req.resolve(dep));
    while (!fs.existsSync(path.join(p, 'package.json'))) p = path.dirname(p);
    resolved = p;
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.symlinkSync(fs.realpathSync(resolved), target, 'dir');
}

beforeAll(() => {
  fs.mkdirSync(path.join(project, 'node_modules', '@hier-ts'), { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }));
  for (const { dir, manifest } of publishable) {
    const out = path.join(work, 'tarballs');
    fs.mkdirSync(out, { recursive: true });
    const before = new Set(fs.readdirSync(out));
    execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: dir, stdio: 'pipe' });
    const tarball = fs.readdirSync(out).find((f) => !before.has(f))!;
    const dest = path.join(project, 'node_modules', manifest.name);
    fs.mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['-xzf', path.join(out, tarball), '-C', dest, '--strip-components=1']);
    const files = execFileSync('tar', ['-tzf', path.join(out, tarball)], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const packedManifest = JSON.parse(fs.readFileSync(path.join(dest, 'package.json'), 'utf8')) as Manifest;
    packed.set(manifest.name, { tarball, manifest: packedManifest, files });
  }
  for (const { dir, manifest } of publishable) {
    const deps = { ...manifest.dependencies, ...manifest.peerDependencies };
    for (const dep of Object.keys(deps)) {
      if (dep.startsWith('@hier-ts/')) continue;
      if (dep === '@tensorflow/tfjs-node' || dep === '@tensorflow/tfjs-node-gpu') continue; // optional peers
      linkThirdParty(dir, dep);
    }
  }
}, 300_000);

describe('every publishable package, packed as for the registry', () => {
  it('has at least the nine public packages', () => {
    expect(publishable.map((p) => p.manifest.name).sort()).toEqual(
      expect.arrayContaining(['@hier-ts/core', '@hier-ts/engine', '@hier-ts/hyperbolic', '@hier-ts/losses', '@hier-ts/cli']),
    );
  });

  for (const { manifest } of publishable) {
    describe(manifest.name, () => {
      it('ships built JS, declarations and a README, and no sources or tests', () => {
        const { files } = packed.get(manifest.name)!;
        expect(files).toContain('package/dist/index.js');
        expect(files).toContain('package/dist/index.d.ts');
        expect(files).toContain('package/README.md');
        expect(files.filter((f) => f.startsWith('package/src/'))).toEqual([]);
        expect(files.filter((f) => /\.test\.(js|d\.ts)$/.test(f))).toEqual([]);
      });

      it('has registry-ready dependency ranges and a plain exports map', () => {
        const m = packed.get(manifest.name)!.manifest;
        const ranges = Object.values({ ...m.dependencies, ...m.peerDependencies });
        expect(ranges.filter((r) => r.startsWith('workspace:'))).toEqual([]);
        expect(JSON.stringify(m.exports)).not.toContain('@hier-ts/source');
        expect(JSON.stringify(m.exports)).toContain('./dist/index.js');
      });

      it('imports from a fresh project with plain Node', () => {
        const code = `const m = await import(${JSON.stringify(manifest.name)}); const n = Object.keys(m).length; if (n === 0) throw new Error('no exports'); console.log(n);`;
        const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: project, encoding: 'utf8' });
        expect(Number(out.trim())).toBeGreaterThan(0);
      });
    });
  }

  it('the packed CLI answers --help', () => {
    const cli = packed.get('@hier-ts/cli');
    expect(cli?.manifest.bin?.hier).toBeDefined();
    const bin = path.join(project, 'node_modules', '@hier-ts/cli', cli!.manifest.bin!.hier!);
    const out = execFileSync(process.execPath, [bin, '--help'], { cwd: project, encoding: 'utf8' });
    expect(out).toMatch(/hier/);
  });
});
