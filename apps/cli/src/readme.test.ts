import fs from 'node:fs';
import { FLAGS } from '@hier-ts/trainer';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES } from './cli.js';

const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('maps every train.py flag and every hier-ts train flag', () => {
    const missing = FLAGS.filter((f) => !readme.includes(`| \`--${f.name}\``)).map((f) => f.name);
    expect(missing).toEqual([]);
  });

  it('shows every command with an example', () => {
    for (const c of COMMAND_NAMES) expect(readme).toMatch(new RegExp(`\\nhier ${c} `));
  });
});
