#!/usr/bin/env node
import { main } from './cli.js';

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
process.exitCode = code;
// Replica workers or file handles left by a failed command must not keep the process alive; the unref'd
// timer fires only if something else is still holding the event loop open.
setTimeout(() => process.exit(code), 3000).unref();
