/**
 * The `hier train` flag table is @hier-ts/trainer's FLAGS (names, kebab aliases, defaults, help, deviations),
 * translated to the CLI parser's shape; values are parsed by the trainer's own `parseFlagValue`.
 */
import { type FlagSpec as TrainerFlagSpec, FLAGS, parseFlagValue } from '@hier-ts/trainer';
import { type FlagSpec, FlagTable } from './args.js';

/** CLI-only switches of `hier train` (they change how the CLI parses, not the training config). */
export const OFFICIAL_BOOL_FLAG: FlagSpec = {
  name: 'official_bool_parsing',
  type: 'boolean',
  default: false,
  group: 'parsing',
  help: "parse bn_freeze/use_lastnorm as train.py does (Python bool(str): any non-empty value, even 'False', is true)",
};

/**
 * Loss lr multipliers (hier-ts; they go to the replica factory, not into TrainConfig). The official values suit
 * fine-tuning at lr 1e-5..1e-4; training from scratch at lr 1e-3 (the Fashion-MNIST recipe) needs smaller ones.
 */
export const LR_SCALE_FLAGS: FlagSpec[] = [
  {
    name: 'metric_lr_scale',
    type: 'number',
    group: 'hier-ts flags',
    help: 'lr multiplier of the metric-loss proxies (PA/PNCA/SoftTriple); unset: the official 1e4',
  },
  { name: 'hier_lr_scale', type: 'number', group: 'hier-ts flags', help: 'lr multiplier of the HIER proxies; unset: the official 50' },
];

function toCliSpec(f: TrainerFlagSpec, officialBool: boolean): FlagSpec {
  const type: FlagSpec['type'] =
    f.type === 'boolean' ? 'boolean' : f.type === 'integer' ? 'int' : f.type === 'number' || f.type === 'number?' ? 'number' : 'string';
  return {
    name: f.name,
    aliases: [f.alias, ...(f.aliases ?? [])].filter((a) => a !== f.name),
    type,
    default: f.default === null ? undefined : f.default,
    choices: f.choices,
    help: f.help,
    deviation: f.deviation,
    group: f.origin === 'official' ? 'official train.py flags' : 'hier-ts flags',
    nullable: f.type.endsWith('?'),
    parse: (raw) => parseFlagValue(f, raw, { officialPythonBool: officialBool }),
  };
}

/** The train flags; `officialBool` switches the two `type=bool` flags to Python's bool(str). */
export function trainFlagTable(officialBool = false, extra: readonly FlagSpec[] = []): FlagTable {
  return new FlagTable([...FLAGS.map((f) => toCliSpec(f, officialBool)), ...LR_SCALE_FLAGS, ...extra, OFFICIAL_BOOL_FLAG]);
}

export { FLAGS as TRAIN_FLAGS };
