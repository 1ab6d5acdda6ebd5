/**
 * @hier-ts/cli: the `hier` command. The binary is dist/bin.js; this module exposes the same entry point and its
 * parts for embedding the CLI in other tools (and for tests).
 */
export const PACKAGE = '@hier-ts/cli';
export { main, usage, COMMAND_NAMES, EXIT_USAGE, EXIT_FAILURE, type CliIo, type Command, type CommandName } from './cli.js';
export { FlagTable, parseArgs, loadConfigFile, formatHelp, coerce, flagKey, type FlagSpec, type FlagType, type ParsedArgs } from './args.js';
export { DEMO_RECIPE, demoConfig } from './commands/demo.js';
export { runTraining, type SessionOptions, type SessionResult } from './wiring/session.js';
export { evalPlan, evalSource, resolveArrow, type EvalPlan } from './wiring/data.js';
export { evaluateSplits, flattenMetrics, type SplitEvaluation } from './wiring/evaluation.js';
export { restoreRun, findCheckpoint, type RestoredRun } from './wiring/restore.js';
