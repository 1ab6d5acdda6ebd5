import { describe, expect, it } from 'vitest';
import { runBenchmarks } from './bench.js';

describe('runBenchmarks', () => {
  it('returns well-formed GFLOP/s records in quick mode', async () => {
    const lines: string[] = [];
    const recs = await runBenchmarks({ quick: true, log: (l) => lines.push(l) });
    const ids = recs.map((r) => r.id);
    expect(ids).toContain('kernel.matmul.1024');
    expect(ids).toContain('kernel.conv2d-backprop-filter.3x3-64-64-56.b16');
    expect(ids).toContain('batchnorm-train.fwd-bwd.16x56x56x64');
    expect(ids).toContain('attention-helpers.fwd-bwd.b2.t197.h6.d64');
    expect(ids).toContain('layernorm.fwd-bwd.2x197x384');
    for (const r of recs) {
      expect(r.unit).toBe(r.id.startsWith('kernel.') ? 'GFLOP/s' : 'ms');
      expect(r.value).toBeGreaterThan(0);
      expect(r.backend).toBe('wasm');
    }
    expect(lines.length).toBe(recs.length);
  });
});
