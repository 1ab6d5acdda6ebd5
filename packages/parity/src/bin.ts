#!/usr/bin/env node
// The package's bin entry; the tool itself lives in cli.ts (what `pnpm parity` runs from dist/cli.js).
import './cli.js';
