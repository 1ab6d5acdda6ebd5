import { defineConfig } from 'vitest/config';

// Every package's tests run against the TypeScript sources of its sibling packages
// (the "@hier-ts/source" export condition), so no build is needed to test a change.
export default defineConfig({
  resolve: { conditions: ['@hier-ts/source'] },
  ssr: { resolve: { conditions: ['@hier-ts/source'], externalConditions: ['@hier-ts/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
    passWithNoTests: true,
  },
});
