/**
 * Flag parsing for the `hier` command. Every command describes its flags as a table of `FlagSpec`s (the train
 * command takes its table from @hier-ts/trainer's config, so names, defaults and help live in one place); this
 * module only turns argv (and an optional `--config` file) into typed values or refuses with one clear line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HierError } from '@hier-ts/core';
import YAML from 'yaml';

export type FlagType = 'string' | 'number' | 'int' | 'boolean' | 'path' | 'list';

export interface FlagSpec {
  /** Canonical name, as the official train.py spells it (snake_case, `IPC` upper-case). */
  name: string;
  /** Extra spellings (kebab-case, the seed's alternative names such as nproc_per_node). */
  aliases?: readonly string[];
  type: FlagType;
  /** `undefined` means "not set" (the package decides). */
  default?: unknown;
  /** Allowed values; matched case-insensitively and stored in the spelling given here. */
  choices?: readonly string[];
  help: string;
  /** Where we differ from the official code (shown in --help). */
  deviation?: string;
  /** Heading in --help. */
  group?: string;
  /** Must be given (no default). */
  required?: boolean;
  /** Accepts none/null (the value is then `null`). */
  nullable?: boolean;
  /**
   * Converts a raw value instead of the built-in rules (the train flags use @hier-ts/trainer's parser so the
   * CLI and the package agree on every spelling).
   */
  parse?: (raw: string | number | boolean | null) => unknown;
}

export interface ParsedArgs {
  values: Record<string, unknown>;
  /** Canonical names given on the command line or in the config file (not defaults). */
  explicit: Set<string>;
  /** Where each explicit value came from (`argv` or the config file path). */
  source: Record<string, string>;
  help: boolean;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'y', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'n', 'off']);

/** Key used to match user spellings: case and `-`/`_` do not matter (`--weight-decay`, `--Weight_Decay`). */
export function flagKey(name: string): string {
  return name.replace(/^-+/, '').replace(/-/g, '_').toLowerCase();
}

export function kebab(name: string): string {
  return name.replace(/_/g, '-').toLowerCase();
}

export class FlagTable {
  readonly specs: readonly FlagSpec[];
  private readonly byKey = new Map<string, FlagSpec>();

  constructor(specs: readonly FlagSpec[]) {
    this.specs = specs;
    for (const spec of specs) {
      for (const spelling of [spec.name, ...(spec.aliases ?? []), kebab(spec.name)]) {
        const key = flagKey(spelling);
        const prev = this.byKey.get(key);
        if (prev && prev !== spec) {
          throw new HierError('E_FLAG_TABLE', `flag spelling --${spelling} is claimed by both --${prev.name} and --${spec.name}`);
        }
        this.byKey.set(key, spec);
      }
    }
  }

  lookup(spelling: string): FlagSpec | undefined {
    return this.byKey.get(flagKey(spelling));
  }

  /** The closest known flag name (for "did you mean"), or undefined when nothing is close. */
  suggest(spelling: string): string | undefined {
    const key = flagKey(spelling);
    let best: { name: string; d: number } | undefined;
    for (const [k, spec] of this.byKey) {
      const d = editDistance(key, k);
      if (!best || d < best.d) best = { name: spec.name, d };
    }
    return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.name : undefined;
  }

  defaults(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const spec of this.specs) if (spec.default !== undefined) out[spec.name] = cloneDefault(spec.default);
    return out;
  }
}

function cloneDefault(v: unknown): unknown {
  return Array.isArray(v) ? [...v] : v;
}

/** Converts one raw value (a string from argv, or a JSON/YAML value) to the flag's type. */
export function coerce(spec: FlagSpec, raw: unknown, where: string): unknown {
  const fail = (what: string): never => {
    throw new HierError('E_FLAG_VALUE', `--${spec.name} ${what} (${where})`);
  };
  if (spec.parse) {
    try {
      return spec.parse(raw === undefined ? null : (raw as string | number | boolean | null));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new HierError(err instanceof HierError ? err.code : 'E_FLAG_VALUE', `${msg} (${where})`);
    }
  }
  if (raw === null || raw === undefined) return fail('needs a value');
  if (spec.nullable && typeof raw === 'string' && ['none', 'null'].includes(raw.trim().toLowerCase())) return null;
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'number' && (raw === 0 || raw === 1)) return raw === 1;
      const s = String(raw).trim().toLowerCase();
      if (TRUE_WORDS.has(s)) return true;
      if (FALSE_WORDS.has(s)) return false;
      return fail(`expects true or false, got '${String(raw)}'`);
    }
    case 'number':
    case 'int': {
      const s = typeof raw === 'number' ? String(raw) : String(raw).trim();
      // Number('') is 0 and Number('0x10') is 16: accept only decimal / scientific notation.
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return fail(`expects a number, got '${String(raw)}'`);
      const n = Number(s);
      if (!Number.isFinite(n)) return fail(`expects a finite number, got '${String(raw)}'`);
      if (spec.type === 'int' && !Number.isInteger(n)) return fail(`expects an integer, got '${String(raw)}'`);
      return n;
    }
    case 'list': {
      if (Array.isArray(raw)) return raw.map((x) => String(x));
      return String(raw)
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0);
    }
    default: {
      if (typeof raw === 'object') return fail(`expects a single value, got ${JSON.stringify(raw)}`);
      const s = String(raw);
      if (spec.choices) {
        const hit = spec.choices.find((c) => c.toLowerCase() === s.toLowerCase());
        if (hit === undefined) return fail(`must be one of ${spec.choices.join(', ')}; got '${s}'`);
        return hit;
      }
      if (s.length === 0) return fail('needs a non-empty value');
      return s;
    }
  }
}

/**
 * Parses argv for one command. `--name value`, `--name=value`, kebab or snake spellings, booleans as
 * `--flag`, `--flag false`, `--no-flag`; `--config FILE` (JSON or YAML) supplies values that argv overrides.
 * Anything unknown or malformed throws a HierError whose message is the one line the user sees.
 */
export function parseArgs(table: FlagTable, argv: readonly string[], command: string, opts: { configFlag?: boolean } = {}): ParsedArgs {
  const values = table.defaults();
  const explicit = new Set<string>();
  const source: Record<string, string> = {};
  const fromArgv = new Map<string, unknown>();
  let configFile: string | undefined;
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--help' || token === '-h') {
      help = true;
      continue;
    }
    if (!token.startsWith('--') || token === '--') {
      throw new HierError('E_FLAG', `unexpected argument '${token}' for 'hier ${command}' (flags look like --name value; see hier ${command} --help)`);
    }
    const eq = token.indexOf('=');
    const spelled = eq >= 0 ? token.slice(2, eq) : token.slice(2);
    let inline: string | undefined = eq >= 0 ? token.slice(eq + 1) : undefined;

    if (opts.configFlag !== false && flagKey(spelled) === 'config') {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) throw new HierError('E_FLAG_VALUE', `--config needs a file path (argv)`);
      configFile = v;
      continue;
    }

    let spec = table.lookup(spelled);
    let negated = false;
    if (!spec && flagKey(spelled).startsWith('no_')) {
      const base = table.lookup(flagKey(spelled).slice(3));
      if (base?.type === 'boolean') {
        spec = base;
        negated = true;
      }
    }
    if (!spec) {
      const hint = table.suggest(spelled);
      throw new HierError(
        'E_FLAG_UNKNOWN',
        `unknown flag --${spelled} for 'hier ${command}'${hint ? `; did you mean --${hint}?` : ''} (see hier ${command} --help)`,
      );
    }
    let value: unknown;
    if (negated) {
      if (inline !== undefined) throw new HierError('E_FLAG_VALUE', `--${spelled} takes no value (argv)`);
      value = false;
    } else if (spec.type === 'boolean') {
      if (inline === undefined) {
        const next = argv[i + 1];
        const nk = next?.trim().toLowerCase();
        if (nk !== undefined && (TRUE_WORDS.has(nk) || FALSE_WORDS.has(nk))) {
          inline = next;
          i++;
        }
      }
      value = inline === undefined ? true : coerce(spec, inline, 'argv');
    } else {
      if (inline === undefined) {
        const next = argv[i + 1];
        // A negative number is a value, not a flag.
        if (next === undefined || (next.startsWith('--') && !/^--?\d/.test(next))) {
          throw new HierError('E_FLAG_VALUE', `--${spec.name} needs a value (argv)`);
        }
        inline = next;
        i++;
      }
      value = coerce(spec, inline, 'argv');
    }
    if (fromArgv.has(spec.name) && JSON.stringify(fromArgv.get(spec.name)) !== JSON.stringify(value)) {
      throw new HierError(
        'E_FLAG_CONFLICT',
        `conflicting flags: --${spec.name} given twice with different values (${formatValue(fromArgv.get(spec.name))} and ${formatValue(value)}; --${spelled} is the same flag)`,
      );
    }
    fromArgv.set(spec.name, value);
  }

  if (configFile !== undefined) {
    for (const [name, value] of Object.entries(loadConfigFile(table, configFile, command))) {
      values[name] = value;
      explicit.add(name);
      source[name] = configFile;
    }
  }
  for (const [name, value] of fromArgv) {
    values[name] = value;
    explicit.add(name);
    source[name] = 'argv';
  }
  if (!help) {
    for (const spec of table.specs) {
      if (spec.required && (values[spec.name] === undefined || values[spec.name] === '')) {
        throw new HierError('E_FLAG_MISSING', `'hier ${command}' needs --${spec.name} (${spec.help.split('.')[0]})`);
      }
    }
  }
  return { values, explicit, source, help };
}

/**
 * Reads a JSON or YAML config file of flag values (keys in any spelling argv accepts). Unknown keys are refused,
 * naming the file and key, because a misspelt key that silently falls back to a default is a wasted run.
 */
export function loadConfigFile(table: FlagTable, file: string, command: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new HierError('E_CONFIG', `config file ${file} cannot be read (does it exist?)`);
  }
  const ext = path.extname(file).toLowerCase();
  let doc: unknown;
  try {
    if (ext === '.json') doc = JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') doc = YAML.parse(text);
    else throw new HierError('E_CONFIG', `config file ${file} must end in .json, .yaml or .yml`);
  } catch (err) {
    if (err instanceof HierError) throw err;
    const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new HierError('E_CONFIG', `config file ${file} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${msg}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new HierError('E_CONFIG', `config file ${file} must hold a mapping of flag names to values`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    if (flagKey(key) === 'config') throw new HierError('E_CONFIG', `config file ${file}: key '${key}' cannot nest another config file`);
    const spec = table.lookup(key);
    if (!spec) {
      const hint = table.suggest(key);
      throw new HierError('E_CONFIG', `config file ${file}: unknown key '${key}' for 'hier ${command}'${hint ? `; did you mean '${hint}'?` : ''}`);
    }
    out[spec.name] = coerce(spec, raw, `config file ${file}, key '${key}'`);
  }
  return out;
}

/** --help text: usage line, then each flag with its type, default and (when any) the deviation note. */
export function formatHelp(command: string, summary: string, table: FlagTable, extra: string[] = []): string {
  const lines: string[] = [`usage: hier ${command} [flags]`, '', summary, ''];
  const groups = new Map<string, FlagSpec[]>();
  for (const spec of table.specs) {
    const g = spec.group ?? 'flags';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(spec);
  }
  for (const [group, specs] of groups) {
    lines.push(`${group}:`);
    for (const spec of specs) {
      const spellings = [spec.name, ...new Set([kebab(spec.name), ...(spec.aliases ?? [])].filter((a) => a !== spec.name))];
      const metavar = spec.type === 'boolean' ? '[BOOL]' : spec.choices ? `{${spec.choices.join('|')}}` : `<${spec.type}>`;
      lines.push(`  ${spellings.map((s) => `--${s}`).join(', ')} ${metavar}`);
      const def = spec.required ? 'required' : spec.default === undefined ? 'default: unset' : `default: ${formatValue(spec.default)}`;
      lines.push(`      ${spec.help} (${def})`);
      if (spec.deviation) lines.push(`      note: ${spec.deviation}`);
    }
    lines.push('');
  }
  lines.push('  --config FILE  JSON or YAML file of flag values (flags on the command line override it)');
  lines.push('  --help, -h     this text');
  if (extra.length) lines.push('', ...extra);
  return `${lines.join('\n')}\n`;
}

function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
