/**
 * The one error type of hier-ts. `code` is stable and machine-readable; the message names the file,
 * line, flag, argument or tensor (and its shape) that is wrong, so a user can fix it without a debugger.
 */
export class HierError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HierError';
    this.code = code;
  }
}

export function assert(condition: unknown, code: string, message: string | (() => string)): asserts condition {
  if (!condition) throw new HierError(code, typeof message === 'function' ? message() : message);
}
