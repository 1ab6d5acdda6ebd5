/**
 * The one training configuration. Field names are the official `hier/train.py` argparse names (spec §5.1) so that
 * the released shell scripts translate flag for flag; fields marked `origin: 'ours'` are hier-ts additions.
 * `FLAGS` is the single source of truth: defaults, CLI parsing, --help text and deviation notes all come from it.
 */
import { HierError } from '@hier-ts/core';

export type FlagType = 'string' | 'number' | 'integer' | 'boolean' | 'string?' | 'number?';

export const MODEL_NAMES = [
  'resnet50',
  'resnet18',
  'deit_small_distilled_patch16_224',
  'vit_small_patch16_224',
  'dino_vits16',
  'vit_tiny_patch16_224',
  'vit_tiny',
  'cnn4',
] as const;
export const LOSS_NAMES = ['PA', 'MS', 'PNCA', 'SoftTriple', 'SupCon', 'MSHyp'] as const;
export const OPTIMIZER_NAMES = ['adamw', 'adam', 'sgd'] as const;
export const DATASET_NAMES = ['CUB', 'Cars', 'SOP', 'Inshop', 'FashionMNIST'] as const;
export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const TRANSPORT_NAMES = ['auto', 'threads', 'processes'] as const;

export interface TrainConfig {
  // ---- official flags (hier/train.py) ----
  model: string;
  image_size: number;
  patch_size: number;
  emb: number;
  use_fp16: boolean;
  weight_decay: number;
  clip_grad: number;
  batch_size: number;
  epochs: number;
  freeze_last_layer: number;
  lr: number;
  fc_lr_scale: number;
  warmup_epochs: number;
  min_lr_scale: number;
  optimizer: string;
  load_from: string | null;
  pool: string;
  lr_decay: string | null;
  lr_decay_gamma: number | null;
  resize_size: number;
  crop_size: number;
  bn_freeze: boolean;
  use_lastnorm: boolean;
  global_crops_number: number;
  IPC: number;
  hyp_c: number;
  clip_r: number;
  save_emb: boolean;
  best_recall: number;
  loss: string;
  cluster_start: number;
  topk: number;
  num_hproxies: number;
  lambda1: number;
  lambda2: number;
  mrg: number;
  dataset: string;
  data_path: string;
  output_dir: string;
  run_name: string;
  saveckp_freq: number;
  eval_freq: number;
  seed: number;
  num_workers: number;
  local_rank: number;
  // ---- ours ----
  backend: string;
  devices: number;
  replica_transport: string;
  micro_batch: number;
  resume: string | null;
  adam_eps: number | null;
  lr_batch_ref: number;
  emulate_world_size: number;
  allow_class_repeat: boolean;
  eval_start: number | null;
  best_recall_latest: boolean;
  keep_last: number;
  log_every: number;
  max_iters: number;
  progress: boolean;
}

export type FlagName = keyof TrainConfig;
export type FlagValue = string | number | boolean | null;

export interface FlagSpec {
  /** Field name = the official argparse dest (`--IPC`, `--lr_decay`, …). */
  name: FlagName;
  /** Kebab-case alias accepted by the CLI (`--lr-decay`). Equal to `name` when it has no underscore. */
  alias: string;
  /** Extra accepted spellings (e.g. `nproc_per_node` for `devices`). */
  aliases?: string[];
  type: FlagType;
  default: FlagValue;
  choices?: readonly string[];
  help: string;
  origin: 'official' | 'ours';
  /** Where hier-ts behaves differently from train.py, and which flag restores the official behaviour. */
  deviation?: string;
  /** Official flags declared with argparse `type=bool` (Python `bool(str)`: any non-empty string is True). */
  officialPythonBool?: boolean;
}

function kebab(name: string): string {
  return name.replace(/_/g, '-');
}

type Spec = Omit<FlagSpec, 'alias'> & { alias?: string };

const SPECS: Spec[] = [
  { name: 'model', type: 'string', default: 'resnet50', choices: MODEL_NAMES, origin: 'official', help: 'backbone (+ LayerNorm/Linear/ToPoincare head); cnn4, resnet18 and vit_tiny are CPU-sized additions' },
  { name: 'image_size', type: 'integer', default: 224, origin: 'official', help: 'training crop size (RandomResizedCrop output) and model input size', deviation: 'official: declared but unused (224 hard-coded); here it sets the training input size' },
  { name: 'patch_size', type: 'integer', default: 16, origin: 'official', help: 'ViT patch size for the configurable vit_tiny', deviation: 'official: unused' },
  { name: 'emb', type: 'integer', default: 128, origin: 'official', help: 'embedding (ball) dimension' },
  { name: 'use_fp16', type: 'boolean', default: true, origin: 'official', help: 'official: AMP + GradScaler; also selects Adam eps 1e-4 (else 1e-8)', deviation: 'tfjs trains in fp32: only the eps side effect is kept (override with --adam_eps)' },
  { name: 'weight_decay', type: 'number', default: 1e-4, origin: 'official', help: 'decoupled weight decay, the same for all four parameter groups' },
  { name: 'clip_grad', type: 'number', default: 0.1, origin: 'official', help: 'when > 0, every gradient element (model, head, proxies) is clamped to [-10, 10]; the value itself is not used (spec §5.4)' },
  { name: 'batch_size', type: 'integer', default: 90, origin: 'official', help: 'per-replica batch (global batch = batch_size x devices)' },
  { name: 'epochs', type: 'integer', default: 100, origin: 'official', help: 'number of training epochs' },
  { name: 'freeze_last_layer', type: 'integer', default: 0, origin: 'official', help: 'accepted for script compatibility; unused (as in the official code)' },
  { name: 'lr', type: 'number', default: 1e-5, origin: 'official', help: 'base lr; each group gets lr x (batch_size x devices / lr_batch_ref) x group scale x schedule' },
  { name: 'fc_lr_scale', type: 'number', default: 1, origin: 'official', help: 'lr multiplier of the head Linear ("last_layer" group)' },
  { name: 'warmup_epochs', type: 'integer', default: 1, origin: 'official', help: 'epochs with backbone lr 0 (not a ramp; Adam moments still update); no evaluation before this epoch' },
  { name: 'min_lr_scale', type: 'number', default: 0.1, origin: 'official', help: 'final lr factor of the cosine schedule' },
  { name: 'optimizer', type: 'string', default: 'adamw', choices: OPTIMIZER_NAMES, origin: 'official', help: 'adamw | adam | sgd (momentum 0.9)', deviation: 'adamp (external package) and radam (crashes officially) are refused' },
  { name: 'load_from', type: 'string?', default: null, origin: 'official', help: 'safetensors file with initial backbone weights', deviation: 'official: unused' },
  { name: 'pool', type: 'string', default: 'token', origin: 'official', help: 'accepted and ignored, as timm 0.4.12 ignores it (the CLS token is always used)' },
  { name: 'lr_decay', type: 'string?', default: null, origin: 'official', help: "lr schedule: none (constant), 'cosine', or an integer k (step every k epochs by lr_decay_gamma)" },
  { name: 'lr_decay_gamma', type: 'number?', default: null, origin: 'official', help: 'step-schedule factor (required with an integer lr_decay)' },
  { name: 'resize_size', type: 'integer', default: 256, origin: 'official', help: 'evaluation resize (short side)' },
  { name: 'crop_size', type: 'integer', default: 224, origin: 'official', help: 'evaluation center crop' },
  { name: 'bn_freeze', type: 'boolean', default: true, origin: 'official', officialPythonBool: true, help: 'ResNet BatchNorm in eval mode forever (affine params still train)', deviation: "official parses it with Python bool(str), so '--bn_freeze False' is True; here False means false (pass official_bool_parsing to the CLI parser for the quirk)" },
  { name: 'use_lastnorm', type: 'boolean', default: true, origin: 'official', officialPythonBool: true, help: 'LayerNorm (no affine) before the head Linear', deviation: 'same bool(str) quirk as bn_freeze' },
  { name: 'global_crops_number', type: 'integer', default: 1, origin: 'official', help: 'augmented views per image', deviation: 'only 1 is supported (every released script uses 1)' },
  { name: 'IPC', type: 'integer', default: 2, origin: 'official', help: 'images per class per batch; > 0 uses UniqueClassSampler, 0 a shuffled sampler' },
  { name: 'hyp_c', type: 'number', default: 0.1, origin: 'official', help: 'Poincare-ball curvature (0: L2-normalised head)' },
  { name: 'clip_r', type: 'number', default: 2.3, origin: 'official', help: 'feature clipping radius before expmap0' },
  { name: 'save_emb', type: 'boolean', default: false, origin: 'official', help: 'dump evaluation embeddings when R@1 improves' },
  { name: 'best_recall', type: 'number', default: 0, origin: 'official', help: 'starting value of the best R@1 (internal state officially)' },
  { name: 'loss', type: 'string', default: 'PA', choices: LOSS_NAMES, origin: 'official', help: 'metric loss: PA, MS, PNCA, SoftTriple, SupCon (MSHyp: the hyperbolic MS variant, defined but unreachable officially)', deviation: 'SoftTriple crashes officially; here it runs' },
  { name: 'cluster_start', type: 'integer', default: 0, origin: 'official', help: 'epochs before which the HIER loss is multiplied by 0' },
  { name: 'topk', type: 'integer', default: 30, origin: 'official', help: 'mutual-kNN k of the HIER triplet mining (scripts: 20)' },
  { name: 'num_hproxies', type: 'integer', default: 512, origin: 'official', help: 'number of hierarchical proxies (lr scale x50)' },
  { name: 'lambda1', type: 'number', default: 1.0, origin: 'official', help: 'metric-loss weight' },
  { name: 'lambda2', type: 'number', default: 1.0, origin: 'official', help: 'HIER-loss weight (scripts: 0.5); <= 0 disables HIER' },
  { name: 'mrg', type: 'number', default: 0.1, origin: 'official', help: 'HIER margin (the PA margin stays 0.1)' },
  { name: 'dataset', type: 'string', default: 'CUB', choices: DATASET_NAMES, origin: 'official', help: 'CUB, Cars, SOP, Inshop (FashionMNIST is ours)' },
  { name: 'data_path', type: 'string', default: '/path/to/dataset', origin: 'official', help: 'dataset root (or the ingested Arrow file/folder)' },
  { name: 'output_dir', type: 'string', default: './logs/', origin: 'official', help: 'checkpoints (checkpoints/), JSONL logs and metrics go here' },
  { name: 'run_name', type: 'string', default: '', origin: 'official', help: 'run-name suffix for logs' },
  { name: 'saveckp_freq', type: 'integer', default: 40, origin: 'official', help: 'numbered checkpoint every k epochs', deviation: "we also keep a rolling 'last' checkpoint every epoch and a 'best' one" },
  { name: 'eval_freq', type: 'integer', default: 1, origin: 'official', help: 'evaluate when epoch % eval_freq == 0 and epoch >= warmup_epochs (SOP/Inshop: epoch >= 40)' },
  { name: 'seed', type: 'integer', default: 0, origin: 'official', help: 'seed of every Rng (init, sampler, augmentation, loss randomness)' },
  { name: 'num_workers', type: 'integer', default: 10, origin: 'official', help: 'data-loader worker threads (capped at cpus / devices)', deviation: 'official: unused (cpu_count // world_size)' },
  { name: 'local_rank', type: 'integer', default: 0, origin: 'official', help: 'accepted for launcher compatibility; replicas are ranked internally' },
  // ---- ours ----
  { name: 'backend', type: 'string', default: 'auto', choices: BACKEND_NAMES, origin: 'ours', help: 'tfjs backend: auto tries tensorflow-gpu, tensorflow, wasm, cpu' },
  { name: 'devices', type: 'integer', default: 1, aliases: ['nproc_per_node', 'nproc-per-node'], origin: 'ours', help: 'data-parallel replicas (CPU: one worker thread per core; GPU: one process per device)' },
  { name: 'replica_transport', type: 'string', default: 'auto', choices: TRANSPORT_NAMES, origin: 'ours', help: 'auto: threads on wasm/cpu, processes (sockets) on native backends' },
  { name: 'micro_batch', type: 'integer', default: 0, origin: 'ours', help: 'gradient-caching micro-batch (0: the whole per-replica batch in one pass); must divide batch_size' },
  { name: 'resume', type: 'string?', default: null, origin: 'ours', help: "checkpoint folder to continue from, or 'auto' (output_dir/checkpoints/last when present)" },
  { name: 'adam_eps', type: 'number?', default: null, origin: 'ours', help: 'Adam/AdamW eps (default: 1e-4 with use_fp16, else 1e-8, as official)' },
  { name: 'lr_batch_ref', type: 'number', default: 180, origin: 'ours', help: 'reference batch of the lr rule (official code divides by 180)' },
  { name: 'emulate_world_size', type: 'integer', default: 0, origin: 'ours', help: 'model gradients are scaled to what DDP with this many GPUs would give (1/W x full batch; 0: devices)' },
  { name: 'allow_class_repeat', type: 'boolean', default: false, origin: 'ours', help: 'allow a batch to need more classes than the dataset has (classes then drawn with replacement)', deviation: 'official silently draws with replacement; we refuse unless this is set (the Fashion-MNIST demo sets it)' },
  { name: 'eval_start', type: 'number?', default: null, origin: 'ours', help: 'first epoch that may evaluate (default: 40 for SOP/Inshop as official, else warmup_epochs)' },
  { name: 'best_recall_latest', type: 'boolean', default: false, origin: 'ours', help: 'official quirk: best_recall is overwritten with the latest R@1 (affects save_emb only)', deviation: 'by default we keep the true maximum' },
  { name: 'keep_last', type: 'integer', default: 2, origin: 'ours', help: 'numbered checkpoints to keep (the best and the last are always kept)' },
  { name: 'log_every', type: 'integer', default: 50, origin: 'ours', help: 'JSONL step log every k iterations (0: per epoch only)' },
  { name: 'max_iters', type: 'integer', default: 0, origin: 'ours', help: 'cap on iterations per epoch (0: floor(#train / global batch)); for smoke runs' },
  { name: 'progress', type: 'boolean', default: true, origin: 'ours', help: 'progress bar on stderr' },
];

export const FLAGS: readonly FlagSpec[] = SPECS.map((s) => ({ ...s, alias: s.alias ?? kebab(s.name) }));

const BY_NAME = new Map<string, FlagSpec>();
for (const f of FLAGS) {
  BY_NAME.set(f.name, f);
  BY_NAME.set(f.alias, f);
  for (const a of f.aliases ?? []) BY_NAME.set(a, f);
}

/** The flag for a name, kebab alias or extra alias (`nproc_per_node`), or undefined. */
export function findFlag(name: string): FlagSpec | undefined {
  return BY_NAME.get(name.replace(/^--?/, ''));
}

export function defaultConfig(): TrainConfig {
  const out: Record<string, FlagValue> = {};
  for (const f of FLAGS) out[f.name] = f.default;
  return out as unknown as TrainConfig;
}

const TRUE = new Set(['true', 't', '1', 'yes', 'y', 'on']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n', 'off']);
const NULLS = new Set(['none', 'null', '']);

/**
 * Parses one command-line string for `flag`. Booleans parse as people mean them ('False', '0', 'off' are false).
 * With `officialPythonBool`, flags that train.py declares with `type=bool` follow Python's `bool(str)`: every
 * non-empty string, including 'False', is true (that is why the ResNet SOP script's `--bn_freeze False` froze BN).
 */
export function parseFlagValue(flag: FlagSpec | string, raw: string | number | boolean | null, opts: { officialPythonBool?: boolean } = {}): FlagValue {
  const spec = typeof flag === 'string' ? findFlag(flag) : flag;
  if (!spec) throw new HierError('E_CONFIG', `unknown flag --${String(flag)}${suggest(String(flag))}`);
  const where = `--${spec.name}`;
  if (raw === null) {
    if (spec.type.endsWith('?')) return null;
    throw new HierError('E_CONFIG', `${where} needs a value of type ${spec.type}`);
  }
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'number') return raw !== 0;
      if (opts.officialPythonBool && spec.officialPythonBool) return raw.length > 0;
      const s = raw.trim().toLowerCase();
      if (TRUE.has(s)) return true;
      if (FALSE.has(s)) return false;
      throw new HierError('E_CONFIG', `${where} expects a boolean (true/false, 1/0, yes/no, on/off), got '${raw}'`);
    }
    case 'integer':
    case 'number':
    case 'number?': {
      if (typeof raw === 'boolean') throw new HierError('E_CONFIG', `${where} expects a number, got ${raw}`);
      if (spec.type === 'number?' && typeof raw === 'string' && NULLS.has(raw.trim().toLowerCase())) return null;
      const n = typeof raw === 'number' ? raw : Number(raw.trim());
      if (typeof raw === 'string' && raw.trim() === '') throw new HierError('E_CONFIG', `${where} expects a number, got an empty string`);
      if (!Number.isFinite(n)) throw new HierError('E_CONFIG', `${where} expects a finite number, got '${raw}'`);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw new HierError('E_CONFIG', `${where} expects an integer, got '${raw}'`);
      return n;
    }
    case 'string?': {
      const s = String(raw);
      return NULLS.has(s.trim().toLowerCase()) ? null : s;
    }
    default:
      return String(raw);
  }
}

function suggest(name: string): string {
  const n = name.replace(/^--?/, '').toLowerCase().replace(/-/g, '_');
  const close = FLAGS.filter((f) => f.name.toLowerCase() === n || f.name.toLowerCase().includes(n) || n.includes(f.name.toLowerCase())).map((f) => `--${f.name}`);
  return close.length ? ` (did you mean ${close.slice(0, 3).join(', ')}?)` : '';
}

/**
 * Builds a config from flag values keyed by official name, kebab alias or extra alias. Strings are parsed with
 * `parseFlagValue`; typed values are checked. Unknown keys are refused. The result is not validated yet.
 */
export function configFromFlags(values: Record<string, string | number | boolean | null | undefined>, opts: { officialPythonBool?: boolean } = {}): TrainConfig {
  const cfg = defaultConfig() as unknown as Record<string, FlagValue>;
  for (const [key, raw] of Object.entries(values)) {
    if (raw === undefined) continue;
    const spec = findFlag(key);
    if (!spec) throw new HierError('E_CONFIG', `unknown flag --${key}${suggest(key)}`);
    cfg[spec.name] = parseFlagValue(spec, raw, opts);
  }
  return cfg as unknown as TrainConfig;
}

/** Facts about the data that some checks need (known once the dataset is opened). */
export interface ConfigContext {
  numClasses?: number;
  numTrainImages?: number;
  /** Names the model registry accepts (default MODEL_NAMES). */
  models?: readonly string[];
  /** Names the loss registry accepts (default LOSS_NAMES). */
  losses?: readonly string[];
}

function fail(flag: string, message: string): never {
  throw new HierError('E_CONFIG', `--${flag}: ${message}`);
}

/** Model-parameter gradient scale so the step equals DDP with `emulate_world_size` GPUs (spec §5.6). */
export function worldSize(cfg: TrainConfig): number {
  return cfg.emulate_world_size > 0 ? cfg.emulate_world_size : cfg.devices;
}

/** Adam eps: explicit, else 1e-4 with use_fp16 (what the official fp16 runs used), else 1e-8. */
export function adamEps(cfg: TrainConfig): number {
  return cfg.adam_eps ?? (cfg.use_fp16 ? 1e-4 : 1e-8);
}

/** First epoch at which evaluation may run (spec §5.1: SOP and In-shop only from epoch 40). */
export function evalStart(cfg: TrainConfig): number {
  if (cfg.eval_start !== null) return Math.max(cfg.eval_start, cfg.warmup_epochs);
  return cfg.dataset === 'SOP' || cfg.dataset === 'Inshop' ? Math.max(40, cfg.warmup_epochs) : cfg.warmup_epochs;
}

/** Whether `epoch` (0-based, checked after the epoch's training) evaluates (official rule of train.py). */
export function shouldEvaluate(cfg: TrainConfig, epoch: number): boolean {
  return epoch % cfg.eval_freq === 0 && epoch >= evalStart(cfg);
}

/** Iterations per epoch: floor(#train / global batch), capped by max_iters. */
export function itersPerEpoch(cfg: TrainConfig, numTrainImages: number): number {
  const n = Math.floor(numTrainImages / (cfg.batch_size * cfg.devices));
  return cfg.max_iters > 0 ? Math.min(n, cfg.max_iters) : n;
}

/**
 * Refuses impossible configurations before any work, naming the flag. Returns the config (typed values checked)
 * so calls chain: `validateConfig(configFromFlags(argv))`.
 */
export function validateConfig(cfg: TrainConfig, ctx: ConfigContext = {}): TrainConfig {
  const c = cfg as unknown as Record<string, unknown>;
  for (const f of FLAGS) {
    const v = c[f.name];
    const nullable = f.type.endsWith('?');
    if (v === undefined) fail(f.name, 'missing (start from defaultConfig())');
    if (v === null) {
      if (!nullable) fail(f.name, `must not be null (type ${f.type})`);
      continue;
    }
    const base = f.type.replace('?', '');
    if (base === 'boolean' && typeof v !== 'boolean') fail(f.name, `expects a boolean, got ${JSON.stringify(v)}`);
    if ((base === 'number' || base === 'integer') && (typeof v !== 'number' || !Number.isFinite(v))) fail(f.name, `expects a finite number, got ${JSON.stringify(v)}`);
    if (base === 'integer' && !Number.isInteger(v)) fail(f.name, `expects an integer, got ${v}`);
    if (base === 'string' && typeof v !== 'string') fail(f.name, `expects a string, got ${JSON.stringify(v)}`);
    if (f.choices && f.name !== 'model' && f.name !== 'loss' && !f.choices.includes(v as string)) {
      fail(f.name, `unknown value '${String(v)}'; expected one of ${f.choices.join(', ')}`);
    }
  }
  const names = new Set<string>(FLAGS.map((f) => f.name));
  for (const k of Object.keys(c)) if (!names.has(k)) fail(k, `unknown config field${suggest(k)}`);

  const models = ctx.models ?? MODEL_NAMES;
  if (!models.includes(cfg.model)) fail('model', `unknown model '${cfg.model}'; expected one of ${models.join(', ')}`);
  const losses = ctx.losses ?? LOSS_NAMES;
  if (!losses.includes(cfg.loss)) fail('loss', `unknown loss '${cfg.loss}'; expected one of ${losses.join(', ')}`);
  if ((cfg.optimizer as string) === 'adamp' || (cfg.optimizer as string) === 'radam') fail('optimizer', `'${cfg.optimizer}' is not available`);

  const positive: FlagName[] = ['emb', 'batch_size', 'epochs', 'devices', 'eval_freq', 'saveckp_freq', 'image_size', 'resize_size', 'crop_size', 'lr_batch_ref', 'patch_size'];
  for (const k of positive) if (!((cfg[k] as number) > 0)) fail(k, `must be > 0, got ${cfg[k]}`);
  const nonNeg: FlagName[] = ['lr', 'weight_decay', 'fc_lr_scale', 'warmup_epochs', 'IPC', 'cluster_start', 'micro_batch', 'lambda1', 'mrg', 'hyp_c', 'num_workers', 'keep_last', 'log_every', 'max_iters', 'emulate_world_size', 'best_recall'];
  for (const k of nonNeg) if (!((cfg[k] as number) >= 0)) fail(k, `must be >= 0, got ${cfg[k]}`);
  if (!(cfg.clip_r > 0)) fail('clip_r', `must be > 0, got ${cfg.clip_r}`);
  if (cfg.adam_eps !== null && !(cfg.adam_eps > 0)) fail('adam_eps', `must be > 0, got ${cfg.adam_eps}`);
  if (!(cfg.min_lr_scale >= 0 && cfg.min_lr_scale <= 1)) fail('min_lr_scale', `must lie in [0, 1], got ${cfg.min_lr_scale}`);
  if (cfg.global_crops_number !== 1) fail('global_crops_number', `only 1 view per image is supported, got ${cfg.global_crops_number}`);
  if (cfg.crop_size > cfg.resize_size) fail('crop_size', `${cfg.crop_size} is larger than --resize_size ${cfg.resize_size}`);
  if (cfg.warmup_epochs > cfg.epochs) fail('warmup_epochs', `${cfg.warmup_epochs} exceeds --epochs ${cfg.epochs}: the backbone would never train`);

  // lr schedule
  if (cfg.lr_decay !== null) {
    if (cfg.lr_decay === 'cosine') {
      // ok
    } else if (/^\d+$/.test(cfg.lr_decay.trim())) {
      const k = Number(cfg.lr_decay);
      if (k <= 0) fail('lr_decay', `step interval must be a positive number of epochs, got ${cfg.lr_decay}`);
      if (cfg.lr_decay_gamma === null) fail('lr_decay_gamma', `required with an integer --lr_decay ${cfg.lr_decay}`);
      if (!(cfg.lr_decay_gamma > 0)) fail('lr_decay_gamma', `must be > 0, got ${cfg.lr_decay_gamma}`);
    } else {
      fail('lr_decay', `expected 'cosine', an integer number of epochs or None, got '${cfg.lr_decay}'`);
    }
  }

  // losses
  if (cfg.lambda1 === 0 && !(cfg.lambda2 > 0)) fail('lambda1', 'and --lambda2 are both off: there is no loss to train');
  if (cfg.lambda2 > 0) {
    if (cfg.loss === 'SupCon') fail('lambda2', `must be <= 0 with --loss SupCon (its embeddings are 3-D, HIER cannot combine with it), got ${cfg.lambda2}`);
    if (!(cfg.num_hproxies >= 1)) fail('num_hproxies', `must be >= 1 when --lambda2 > 0, got ${cfg.num_hproxies}`);
    if (!(cfg.topk >= 1)) fail('topk', `must be >= 1 when --lambda2 > 0, got ${cfg.topk}`);
  }

  // batch composition
  // The losses see the gathered global batch, so only the global batch must hold whole classes; a replica's
  // slice may split a class (e.g. the 2 x 45 Fashion-MNIST demo), which only matters for train-mode BN.
  if (cfg.IPC > 0 && (cfg.batch_size * cfg.devices) % cfg.IPC !== 0) {
    fail('IPC', `${cfg.IPC} does not divide the global batch --batch_size ${cfg.batch_size} x --devices ${cfg.devices}`);
  }
  if (cfg.micro_batch > 0) {
    if (cfg.batch_size % cfg.micro_batch !== 0) fail('micro_batch', `${cfg.micro_batch} does not divide the per-replica batch --batch_size ${cfg.batch_size}`);
  }
  if (cfg.IPC > 0 && ctx.numClasses !== undefined) {
    const perBatch = (cfg.batch_size * cfg.devices) / cfg.IPC;
    if (perBatch > ctx.numClasses && !cfg.allow_class_repeat) {
      fail('batch_size', `a global batch of ${cfg.batch_size}x${cfg.devices} with --IPC ${cfg.IPC} needs ${perBatch} distinct classes but the training set has ${ctx.numClasses}; lower --batch_size, raise --IPC, or set --allow_class_repeat (official behaviour: classes drawn with replacement)`);
    }
  }
  if (ctx.numTrainImages !== undefined) {
    const it = Math.floor(ctx.numTrainImages / (cfg.batch_size * cfg.devices));
    if (it < 1) fail('batch_size', `global batch ${cfg.batch_size}x${cfg.devices} exceeds the ${ctx.numTrainImages} training images`);
  }
  if (cfg.replica_transport === 'threads' && (cfg.backend === 'tensorflow' || cfg.backend === 'tensorflow-gpu') && cfg.devices > 1) {
    fail('replica_transport', `threads cannot host the native ${cfg.backend} backend (its addon is not worker-safe); use processes`);
  }
  return cfg;
}

/** Config fields that must match for `resume` to continue a run exactly (the rest may change, e.g. epochs). */
export const RESUME_CRITICAL: readonly FlagName[] = [
  'model', 'emb', 'loss', 'num_hproxies', 'hyp_c', 'clip_r', 'use_lastnorm', 'bn_freeze', 'optimizer', 'batch_size',
  'devices', 'IPC', 'dataset', 'image_size', 'patch_size', 'lambda2', 'seed', 'micro_batch', 'emulate_world_size',
];

/** Names of resume-critical fields that differ, formatted `name: saved → now`. */
export function incompatibleFields(saved: Partial<TrainConfig>, now: TrainConfig): string[] {
  const out: string[] = [];
  for (const k of RESUME_CRITICAL) {
    if (!(k in saved)) continue;
    const a = saved[k];
    const b = now[k];
    // micro_batch only changes memory use, not the maths, when BN is batch-independent; still refuse: BN in
    // train mode normalises per micro-batch.
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${k}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
  }
  return out;
}

/** The --help text: one block per flag, with its default and any deviation from train.py. */
export function formatFlagHelp(): string {
  const lines: string[] = [];
  for (const f of FLAGS) {
    const names = [`--${f.name}`, ...(f.alias !== f.name ? [`--${f.alias}`] : []), ...(f.aliases ?? []).map((a) => `--${a}`)];
    lines.push(`  ${names.join(', ')} <${f.type}${f.choices ? `: ${f.choices.join('|')}` : ''}>  (default ${JSON.stringify(f.default)}${f.origin === 'ours' ? ', hier-ts' : ''})`);
    lines.push(`      ${f.help}`);
    if (f.deviation) lines.push(`      deviation: ${f.deviation}`);
  }
  return lines.join('\n');
}
