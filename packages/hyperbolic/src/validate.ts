import { HierError } from '@hier-ts/core';
import type { tf } from '@hier-ts/engine';

/** Throws unless `c` is a finite positive curvature magnitude. */
export function checkCurvature(c: number, fn: string): void {
  if (typeof c !== 'number' || !Number.isFinite(c) || c <= 0) {
    throw new HierError('E_CURVATURE', `${fn}: curvature c must be a finite number > 0, got ${String(c)}`);
  }
}

/** Throws unless `x` is a float tensor with at least rank `minRank` (points lie on the last axis). */
export function checkPoints(x: tf.Tensor, name: string, fn: string, minRank = 1, maxRank = Number.POSITIVE_INFINITY): void {
  if (x == null || typeof (x as { rank?: unknown }).rank !== 'number') {
    throw new HierError('E_ARG', `${fn}: argument '${name}' must be a tf.Tensor, got ${typeof x}`);
  }
  if (x.rank < minRank || x.rank > maxRank) {
    const want = maxRank === minRank ? `rank ${minRank}` : maxRank === Number.POSITIVE_INFINITY ? `rank >= ${minRank}` : `rank ${minRank}..${maxRank}`;
    throw new HierError('E_SHAPE', `${fn}: argument '${name}' must have ${want}, got shape [${x.shape.join(', ')}]`);
  }
  if (x.dtype !== 'float32') {
    throw new HierError('E_DTYPE', `${fn}: argument '${name}' must be float32, got ${x.dtype} with shape [${x.shape.join(', ')}]`);
  }
}

export function checkSameWidth(x: tf.Tensor, y: tf.Tensor, xn: string, yn: string, fn: string): void {
  const dx = x.shape[x.rank - 1];
  const dy = y.shape[y.rank - 1];
  if (dx !== dy) {
    throw new HierError(
      'E_SHAPE',
      `${fn}: '${xn}' and '${yn}' must have the same last-axis width, got [${x.shape.join(', ')}] and [${y.shape.join(', ')}]`,
    );
  }
}
