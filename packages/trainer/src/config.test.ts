import { HierError } from '@hier-ts/core';
import { describe, expect, it } from 'vitest';
import {
  FLAGS,
  adamEps,
  configFromFlags,
  defaultConfig,
  findFlag,
  formatFlagHelp,
  incompatibleFields,
  parseFlagValue,
  shouldEvaluate,
  validateConfig,
} from './config.js';

function refuses(fn: () => unknown, flag: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HierError);
    expect((err as HierError).code).toBe('E_CONFIG');
    expect((err as Error).message).toContain(`--${flag}`);
    return;
  }
  throw new Error(`expected a refusal naming --${flag}`);
}

describe('config', () => {
  it('defaults are the official train.py defaults', () => {
    const c = validateConfig(defaultConfig());
    expect(c.model).toBe('resnet50');
    expect(c.lr).toBe(1e-5);
    expect(c.batch_size).toBe(90);
    expect(c.IPC).toBe(2);
    expect(c.topk).toBe(30);
    expect(c.num_hproxies).toBe(512);
    expect(c.lambda2).toBe(1);
    expect(c.clip_grad).toBe(0.1);
    expect(c.warmup_epochs).toBe(1);
    expect(c.lr_decay).toBeNull();
    expect(adamEps(c)).toBe(1e-4);
    expect(adamEps({ ...c, use_fp16: false })).toBe(1e-8);
  });

  it('every flag has a kebab alias, help text and a default of its type', () => {
    const seen = new Set<string>();
    for (const f of FLAGS) {
      expect(f.alias).toBe(f.name.replace(/_/g, '-'));
      expect(f.help.length).toBeGreaterThan(5);
      expect(seen.has(f.name)).toBe(false);
      seen.add(f.name);
    }
    expect(findFlag('nproc_per_node')?.name).toBe('devices');
    expect(findFlag('--lr-decay-gamma')?.name).toBe('lr_decay_gamma');
    expect(formatFlagHelp()).toContain('bool(str)');
  });

  it('parses booleans as users mean them, with the official bool(str) quirk on request', () => {
    expect(parseFlagValue('bn_freeze', 'False')).toBe(false);
    expect(parseFlagValue('bn_freeze', 'off')).toBe(false);
    expect(parseFlagValue('bn_freeze', '1')).toBe(true);
    expect(parseFlagValue('bn_freeze', 'False', { officialPythonBool: true })).toBe(true);
    expect(parseFlagValue('bn_freeze', '', { officialPythonBool: true })).toBe(false);
    // use_fp16 is an official bool_flag, which parses properly even in official mode
    expect(parseFlagValue('use_fp16', 'False', { officialPythonBool: true })).toBe(false);
    refuses(() => parseFlagValue('bn_freeze', 'maybe'), 'bn_freeze');
    expect(parseFlagValue('lr_decay', 'None')).toBeNull();
    expect(parseFlagValue('lr_decay_gamma', '0.5')).toBe(0.5);
    refuses(() => parseFlagValue('epochs', '1.5'), 'epochs');
    refuses(() => parseFlagValue('lr', 'abc'), 'lr');
  });

  it('builds from flags given by official name, kebab alias or nproc_per_node', () => {
    const c = validateConfig(
      configFromFlags({ 'lr-decay': '5', lr_decay_gamma: '0.5', nproc_per_node: '2', 'weight-decay': '1e-2', emb: 512 }),
    );
    expect(c.lr_decay).toBe('5');
    expect(c.devices).toBe(2);
    expect(c.weight_decay).toBe(0.01);
    expect(c.emb).toBe(512);
    expect(() => configFromFlags({ learning_rate: '1' })).toThrow(/unknown flag --learning_rate/);
  });

  it('refuses impossible configs naming the flag', () => {
    const d = defaultConfig();
    refuses(() => validateConfig({ ...d, IPC: 4 }), 'IPC');
    refuses(() => validateConfig({ ...d, micro_batch: 7 }), 'micro_batch');
    refuses(() => validateConfig({ ...d, loss: 'SupCon' }), 'lambda2');
    expect(validateConfig({ ...d, loss: 'SupCon', lambda2: 0 }).loss).toBe('SupCon');
    refuses(() => validateConfig({ ...d, loss: 'Triplet' }), 'loss');
    refuses(() => validateConfig({ ...d, model: 'resnet101' }), 'model');
    refuses(() => validateConfig({ ...d, optimizer: 'radam' }), 'optimizer');
    refuses(() => validateConfig({ ...d, lr_decay: '5' }), 'lr_decay_gamma');
    refuses(() => validateConfig({ ...d, lr_decay: 'linear' }), 'lr_decay');
    refuses(() => validateConfig({ ...d, batch_size: 0 }), 'batch_size');
    refuses(() => validateConfig({ ...d, backend: 'tpu' }), 'backend');
    refuses(() => validateConfig({ ...d, lambda1: 0, lambda2: 0 }), 'lambda1');
    // 90 images with IPC 2 need 45 classes
    refuses(() => validateConfig(d, { numClasses: 5 }), 'batch_size');
    expect(validateConfig({ ...d, allow_class_repeat: true }, { numClasses: 5 }).IPC).toBe(2);
    refuses(() => validateConfig({ ...d, devices: 2 }, { numClasses: 60 }), 'batch_size');
    refuses(() => validateConfig(d, { numTrainImages: 50 }), 'batch_size');
    refuses(() => validateConfig({ ...d, backend: 'tensorflow-gpu', devices: 2, replica_transport: 'threads' }), 'replica_transport');
    refuses(() => validateConfig({ ...d, bogus: 1 } as never), 'bogus');
  });

  it('evaluation follows the official epoch rule', () => {
    const d = { ...defaultConfig(), warmup_epochs: 1, eval_freq: 2 };
    expect([0, 1, 2, 3, 4].map((e) => shouldEvaluate(d, e))).toEqual([false, false, true, false, true]);
    const sop = { ...d, dataset: 'SOP', eval_freq: 5 };
    expect(shouldEvaluate(sop, 35)).toBe(false);
    expect(shouldEvaluate(sop, 40)).toBe(true);
  });

  it('lists resume-incompatible fields', () => {
    const d = defaultConfig();
    expect(incompatibleFields(d, { ...d, epochs: 7 })).toEqual([]);
    expect(incompatibleFields(d, { ...d, emb: 64, loss: 'MS' })).toEqual(['emb: 128 -> 64', 'loss: "PA" -> "MS"']);
  });
});
