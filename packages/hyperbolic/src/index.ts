export { artanh, ARTANH_BOUND } from './artanh.js';
export { safeNorm, safeSqrt, accurateNorm } from './norm.js';
export {
  project,
  expmap0,
  logmap0,
  mobiusAdd,
  distToOrigin,
  distMatrix,
  MIN_NORM,
  BALL_EPS,
  MOBIUS_EPS,
  type DistMatrixOptions,
} from './poincare.js';
export { toPoincare, riemannianGradient, CLIP_EPS, type ToPoincareOptions } from './to-poincare.js';
