import type { ParityCaseResult, ParityComparison } from '@hier-ts/engine';
import { HierError } from '@hier-ts/core';

export function caseResult(doc: Record<string, unknown>, file: string, comparisons: ParityComparison[]): ParityCaseResult {
  const caseId = typeof doc.case_id === 'string' ? doc.case_id : file;
  const dtype = typeof doc.dtype === 'string' ? `.${doc.dtype === 'float64' ? 'f64' : doc.dtype === 'float32' ? 'f32' : doc.dtype}` : '';
  return {
    caseId: `${caseId}${dtype}`,
    fn: String(doc.function),
    comparisons,
    pass: comparisons.length > 0 && comparisons.every((c) => c.pass),
  };
}

export function functionName(doc: Record<string, unknown>): string | null {
  return typeof doc.function === 'string' ? doc.function : null;
}

export function objectAt(doc: Record<string, unknown>, key: string, file: string): Record<string, unknown> {
  const v = doc[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HierError('E_GOLDEN', `${file}: '${key}' must be an object`);
  }
  return v as Record<string, unknown>;
}
