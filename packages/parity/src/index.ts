export { runParity, collectFiles, loadSuites, formatCase, BUILTIN_SUITES, type ParityReport, type FileOutcome } from './runner.js';
export { pmathSuite } from './suites/pmath.js';
export { lossesSuite } from './suites/losses.js';
export { hierSuite } from './suites/hier.js';
export { compare, F32_ATOL, F32_RTOL, HIER_GRAD_RTOL, ILL_CONDITIONED_RTOL } from './golden.js';
