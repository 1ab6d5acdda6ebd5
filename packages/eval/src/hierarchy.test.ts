import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '@hier-ts/core';
import sharp from 'sharp';
import { initBackend } from '@hier-ts/engine';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildHierarchy, dendrogramPurity, hierarchyToJson } from './hierarchy.js';
import { matrix } from './matrix.js';
import { hierarchySvg, poincareDiskSvg, spreadOut, umapScatterSvg } from './pictures.js';
import { layout2d } from './project2d.js';
import { writePicture } from './svg.js';
import { randomBallPoints } from './testing.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const proxies = matrix(Float32Array.from([0.5, 0, -0.5, 0, 1.5, 0.5, 1.5, -0.5, -1.5, 0.3]), 2);
const samples = matrix(Float32Array.from([1.6, 0.55, 1.55, 0.6, 1.6, -0.55, 1.5, -0.6, -1.6, 0.3, -1.55, 0.25]), 2);
const fine = Int32Array.from([0, 0, 1, 1, 2, 2]);
const coarse = Int32Array.from([0, 0, 0, 0, 1, 1]);

describe('learned hierarchy', () => {
  it('uses norm as depth and the nearest shallower node as parent', async () => {
    const h = await buildHierarchy(proxies, samples, { c: 0.1 });
    const parentOf = (p: number) => h.nodes[p + 1]!.parent - 1; // −1 = root
    expect([0, 1, 2, 3, 4].map(parentOf)).toEqual([-1, -1, 0, 0, 1]);
    expect(Array.from(h.sampleNode)).toEqual([3, 3, 4, 4, 5, 5]);
    expect(h.nodes[1]!.depth).toBe(1);
    expect(h.nodes[3]!.depth).toBe(2);
    expect(h.nodes[1]!.subtreeSamples).toBe(4);
    expect(h.nodes[0]!.subtreeSamples).toBe(6);
    const dp = dendrogramPurity(h, coarse);
    expect(dp.purity).toBe(1);
    // flat tree: coarse 0 has 6 pairs with purity 4/6, coarse 1 one pair with purity 2/6
    expect(dp.flatBaseline).toBeCloseTo((6 * (4 / 6) + 1 * (2 / 6)) / 7, 12);
    const json = hierarchyToJson(h, fine, coarse);
    expect(json.nodes[1]!.majorityCoarse).toEqual({ label: 0, share: 1 });
    expect(json.scores!.fine!.purity).toBe(1);
    expect(JSON.parse(JSON.stringify(json)).samples[4]).toEqual({ node: 5, label: 2, coarse: 1 });
  });

  it('dendrogram purity equals the pairwise definition on random trees', async () => {
    const rng = new Rng(4);
    const d = 6;
    const pr = matrix(randomBallPoints(rng, 25, d, 0.1, 0.95), d);
    const sm = matrix(randomBallPoints(rng, 90, d, 0.1, 0.95), d);
    const lab = Int32Array.from({ length: 90 }, () => rng.int(4));
    const h = await buildHierarchy(pr, sm, { c: 0.1 });
    const ancestors = (node: number) => {
      const a: number[] = [];
      for (let n = node; n >= 0; n = h.nodes[n]!.parent) a.push(n);
      return a;
    };
    const leavesUnder = (node: number) => {
      const hist = new Map<number, number>();
      let tot = 0;
      for (let i = 0; i < 90; i++) {
        if (ancestors(h.sampleNode[i]!).includes(node)) {
          hist.set(lab[i]!, (hist.get(lab[i]!) ?? 0) + 1);
          tot++;
        }
      }
      return { hist, tot };
    };
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < 90; i++) {
      for (let j = i + 1; j < 90; j++) {
        if (lab[i] !== lab[j]) continue;
        let lca: number;
        if (h.sampleNode[i] === h.sampleNode[j]) lca = h.sampleNode[i]!;
        else {
          const ai = ancestors(h.sampleNode[i]!);
          lca = ancestors(h.sampleNode[j]!).find((a) => ai.includes(a))!;
        }
        const u = leavesUnder(lca);
        sum += u.hist.get(lab[i]!)! / u.tot;
        pairs++;
      }
    }
    expect(dendrogramPurity(h, lab).purity).toBeCloseTo(sum / pairs, 12);
  });

  it('rejects proxies outside the ball and mismatched labels', async () => {
    await expect(buildHierarchy(matrix(Float32Array.from([4, 0]), 2), samples, { c: 0.1 })).rejects.toThrow(/proxy 0 has norm 4.0000/);
    const h = await buildHierarchy(proxies, samples);
    expect(() => dendrogramPurity(h, [1, 2])).toThrow(/2 labels for 6 samples/);
  });
});

describe('pictures', () => {
  it('layout keeps true ball radii and the origin', () => {
    const lay = layout2d(samples, 0.1, 'pca');
    for (let i = 0; i < samples.rows; i++) {
      const r = Math.hypot(lay.xy[2 * i]!, lay.xy[2 * i + 1]!);
      const n = Math.hypot(samples.data[2 * i]!, samples.data[2 * i + 1]!);
      expect(r).toBeCloseTo(n * Math.sqrt(0.1), 6);
    }
    expect(lay.explained).toBeCloseTo(1, 6);
    const lin = layout2d(samples, 0.1, 'pca-linear');
    // 2-D input: the linear tangent projection is an isometry, so radii are preserved too
    expect(Math.hypot(lin.xy[0]!, lin.xy[1]!)).toBeCloseTo(Math.hypot(1.6, 0.55) * Math.sqrt(0.1), 5);
  });

  it('draws the Poincaré disk (SVG and PNG), the tree, and a UMAP scatter', async () => {
    const h = await buildHierarchy(proxies, samples, { c: 0.1 });
    const { svg } = poincareDiskSvg({ samples, labels: fine, proxies, hierarchy: h, c: 0.1, title: 'toy', legend: false });
    expect(svg.match(/<circle /g)!.length).toBe(1 + 6 + 5);
    // The legend: one swatch and name per drawn label, plus the proxies' entry.
    const named = poincareDiskSvg({ samples, labels: fine, proxies, c: 0.1, labelNames: (l) => `class <${l}>` }).svg;
    const distinct = [...new Set(Array.from(fine))];
    for (const l of distinct) expect(named).toContain(`>class &lt;${l}&gt;</text>`);
    expect(named).toContain('>hierarchical proxy</text>');
    expect(named.match(/<circle /g)!.length).toBe(1 + 6 + 5 + distinct.length + 1);
    expect(svg).toContain('fill="black"');
    expect(svg.match(/<line /g)!.length).toBe(5);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-pic-'));
    await writePicture(path.join(dir, 'disk.svg'), svg);
    await writePicture(path.join(dir, 'disk.png'), svg);
    const meta = await sharp(path.join(dir, 'disk.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 800, 800]);
    const tree = hierarchySvg(h, { labels: coarse });
    expect(tree.svg.match(/<circle /g)!.length).toBe(6);
    await writePicture(path.join(dir, 'tree.png'), tree.svg);
    await expect(writePicture(path.join(dir, 'x.jpg'), svg)).rejects.toThrow(/unsupported extension/);
    const rng = new Rng(2);
    const pts = matrix(randomBallPoints(rng, 60, 5, 0.1), 5);
    const u1 = umapScatterSvg({ samples: pts, labels: Int32Array.from({ length: 60 }, (_, i) => i % 3), seed: 1 });
    const u2 = umapScatterSvg({ samples: pts, labels: Int32Array.from({ length: 60 }, (_, i) => i % 3), seed: 1 });
    expect(u1.svg).toBe(u2.svg);
    expect(u1.svg.match(/<circle /g)!.length).toBe(60 + 3); // 60 samples + 3 legend swatches
  });
});

describe('thumbnails on the disk', () => {
  it('spreadOut starts farthest from the centre and keeps picks apart', () => {
    const xs = [0, 0.1, 0.2, 0.9, -0.5];
    expect(spreadOut([0, 1, 2, 3, 4], (i) => xs[i]!, () => 0, 3)).toEqual([3, 4, 2]);
    expect(spreadOut([1, 2], (i) => xs[i]!, () => 0, 5)).toEqual([2, 1]);
    expect(spreadOut([], () => 0, () => 0, 3)).toEqual([]);
    // minDistance: 0.1 and 0.2 are too close to 0 and to each other once 0.9, −0.5 and 0 are taken
    expect(spreadOut([0, 1, 2, 3, 4], (i) => xs[i]!, () => 0, 5, 0.25)).toEqual([3, 4, 2]);
  });

  it('draws images centred on their samples, framed, and renders them into the PNG', async () => {
    const green = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 255, b: 0 } } }).png().toBuffer();
    const href = `data:image/png;base64,${green.toString('base64')}`;
    const images = new Map([0, 2, 4, 5].map((r) => [r, href] as const));
    // maxSamples 4: exactly the 4 thumbnail candidates are drawn
    const { svg, thumbnails } = poincareDiskSvg({ samples, labels: fine, proxies, c: 0.1, legend: false, maxSamples: 4, thumbnails: { images, count: 2, size: 30 } });
    expect(svg.match(/<image /g)!.length).toBe(2);
    expect(thumbnails).toBe(2);
    expect(svg).toContain('6 samples (4 drawn), 5 proxies, 2 images');
    expect(svg.match(/<rect x=/g)!.length).toBe(2);
    expect(svg).toContain('width="30" height="30"');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-thumb-'));
    await writePicture(path.join(dir, 'disk.png'), svg);
    const { data, info } = await sharp(path.join(dir, 'disk.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let greenPixels = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i]! < 30 && data[i + 1]! > 220 && data[i + 2]! < 30) greenPixels++;
    expect(greenPixels).toBeGreaterThan(2 * 20 * 20);
  });
});

describe('writeEvalArtifacts', () => {
  it('writes metrics, Arrow, disk, hierarchy JSON and pictures (and a UMAP for Euclidean runs)', async () => {
    const { writeEvalArtifacts } = await import('./artifacts.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-art-'));
    const split = { embeddings: samples, labels: fine, indices: Int32Array.from([0, 1, 2, 3, 4, 5]), coarseLabels: coarse };
    const res = await writeEvalArtifacts({ dir, query: split, proxies, c: 0.1, png: false });
    expect(res.files.map((f) => path.basename(f))).toEqual(['embeddings.arrow', 'disk.svg', 'hierarchy.json', 'hierarchy.svg']);
    expect(res.hierarchyScores!.coarse!.purity).toBe(1);
    const h = JSON.parse(fs.readFileSync(path.join(dir, 'hierarchy.json'), 'utf8'));
    expect(h.nodes).toHaveLength(6);
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'hier-art-'));
    const res2 = await writeEvalArtifacts({ dir: dir2, query: split, c: 0, png: true });
    expect(res2.files.map((f) => path.basename(f))).toEqual(['embeddings.arrow', 'umap.svg', 'umap.png']);
  });
});
