/**
 * Command dispatch for `hier`. Commands are loaded lazily so that `--help` and flag errors answer before
 * TensorFlow.js is imported (which takes a second or two).
 */
import { HierError } from '@hier-ts/core';
import { type FlagTable, type ParsedArgs, formatHelp, parseArgs } from './args.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  summary: string;
  /**
   * The flag table (train's comes from @hier-ts/trainer, hence async). argv is passed because a parsing
   * switch (train's --official_bool_parsing) changes how other flags are read.
   */
  flags(argv: readonly string[]): Promise<FlagTable>;
  /** Lines appended to --help (examples). */
  examples: string[];
  run(args: ParsedArgs, io: CliIo): Promise<number>;
}

export const COMMAND_NAMES = ['ingest', 'train', 'eval', 'embed', 'visualize', 'demo'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

const SUMMARIES: Record<CommandName, string> = {
  ingest: 'convert a dataset folder (CUB, Cars, SOP, Inshop, FashionMNIST) into an Arrow IPC file',
  train: 'train a backbone + hyperbolic head with a metric loss and HIER (official train.py flags)',
  eval: 'evaluate a checkpoint: Recall@K, MAP@R, R-Precision, NMI (metrics JSON)',
  embed: 'export the embeddings of a dataset to an Arrow file',
  visualize: 'draw the Poincaré disk (PNG/SVG) and the learned hierarchy of a checkpoint or embedding file',
  demo: 'Fashion-MNIST end to end: ingest, train cnn4 with PA + HIER, evaluate unseen classes, draw',
};

async function loadCommand(name: CommandName): Promise<Command> {
  switch (name) {
    case 'ingest':
      return (await import('./commands/ingest.js')).ingestCommand;
    case 'train':
      return (await import('./commands/train.js')).trainCommand;
    case 'eval':
      return (await import('./commands/eval.js')).evalCommand;
    case 'embed':
      return (await import('./commands/embed.js')).embedCommand;
    case 'visualize':
      return (await import('./commands/visualize.js')).visualizeCommand;
    case 'demo':
      return (await import('./commands/demo.js')).demoCommand;
  }
}

export function usage(): string {
  const width = Math.max(...COMMAND_NAMES.map((c) => c.length));
  return [
    'usage: hier <command> [flags]',
    '',
    'commands:',
    ...COMMAND_NAMES.map((c) => `  ${c.padEnd(width)}  ${SUMMARIES[c]}`),
    '',
    'hier <command> --help lists every flag with its default.',
    'Errors print one line; set HIER_DEBUG=1 for the stack trace.',
    '',
  ].join('\n');
}

/** Exit codes: 0 ok, 1 the work failed, 2 the command line was wrong (nothing was started). */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const target = first === 'help' ? rest[0] : undefined;
    if (target === undefined) {
      io.stdout.write(usage());
      return first === undefined ? EXIT_USAGE : 0;
    }
    return main([target, '--help'], io);
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${await version()}\n`);
    return 0;
  }
  if (!(COMMAND_NAMES as readonly string[]).includes(first)) {
    const hint = COMMAND_NAMES.find((c) => c.startsWith(first.slice(0, 2)));
    return fail(
      io,
      first,
      new HierError('E_COMMAND', `unknown command '${first}'${hint ? `; did you mean '${hint}'?` : ''} (commands: ${COMMAND_NAMES.join(', ')})`),
    );
  }
  const name = first as CommandName;
  try {
    const cmd = await loadCommand(name);
    const table = await cmd.flags(rest);
    const args = parseArgs(table, rest, name);
    if (args.help) {
      io.stdout.write(formatHelp(name, SUMMARIES[name], table, cmd.examples));
      return 0;
    }
    return await cmd.run(args, io);
  } catch (err) {
    return fail(io, name, err);
  }
}

function fail(io: CliIo, command: string, err: unknown): number {
  const debug = io.env.HIER_DEBUG === '1' || io.env.HIER_DEBUG === 'true';
  if (err instanceof HierError) {
    io.stderr.write(`hier ${command}: error: ${oneLine(err.message)}\n`);
    if (debug && err.stack) io.stderr.write(`${err.stack}\n`);
    return isUsageError(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  }
  const msg = err instanceof Error ? err.message : String(err);
  io.stderr.write(`hier ${command}: error: ${oneLine(msg)}${debug ? '' : ' (set HIER_DEBUG=1 for the stack trace)'}\n`);
  if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return EXIT_FAILURE;
}

function isUsageError(code: string): boolean {
  return /^E_(FLAG|CONFIG|COMMAND)/.test(code);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `hier ${pkg.version}`;
}
