/** Golden cases of the companion losses: PALoss_Angle, MSLoss_Angle, SupCon and the hyperbolic MSLoss. */
import { type ParityComparison, type ParitySuite, tf } from '@hier-ts/engine';
import { hyperbolicMSLoss, multiSimilarityLoss, proxyAnchorLoss, supConLoss } from '@hier-ts/losses';
import { compare, compareTensor, goldenTensor, hasPath, param, toInt32, toTensor } from '../golden.js';
import { caseResult, functionName } from './common.js';

type LossFn = (inputs: tf.Tensor[], labels: Int32Array, doc: Record<string, unknown>, file: string) => tf.Scalar;

interface LossCase {
  /** Differentiated inputs, in order (names under `inputs` and `grads`). */
  inputs: string[];
  fn: LossFn;
}

function optionalParam(doc: Record<string, unknown>, name: string, file: string): number | undefined {
  return hasPath(doc, `params.${name}`) ? param(doc, name, file) : undefined;
}

const CASES: Record<string, LossCase> = {
  'losses.PALoss_Angle': {
    inputs: ['X', 'P'],
    fn: ([x, p], y, d, f) =>
      proxyAnchorLoss(x as tf.Tensor2D, y, p as tf.Tensor2D, { alpha: optionalParam(d, 'alpha', f), margin: optionalParam(d, 'mrg', f) }),
  },
  'losses.MSLoss_Angle': {
    inputs: ['X'],
    fn: ([x], y, d, f) =>
      multiSimilarityLoss(x as tf.Tensor2D, y, { alpha: optionalParam(d, 'alpha', f), beta: optionalParam(d, 'beta', f), base: optionalParam(d, 'base', f) }),
  },
  'losses.MSLoss': {
    inputs: ['X'],
    fn: ([x], y, d, f) =>
      hyperbolicMSLoss(x as tf.Tensor2D, y, { alpha: optionalParam(d, 'alpha', f), beta: optionalParam(d, 'beta', f), c: param(d, 'hyp_c', f) }),
  },
  'losses.SupCon': {
    inputs: ['X'],
    fn: ([x], _y, d, f) => supConLoss(x, { tau: param(d, 'tau', f), c: param(d, 'hyp_c', f) }),
  },
};

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const lossesSuite: ParitySuite = {
  name: 'losses',
  classify(doc) {
    const fn = functionName(doc);
    return fn !== null && fn in CASES ? 'case' : null;
  },
  async run(doc, { file }) {
    const spec = CASES[functionName(doc) as string];
    const tensors = spec.inputs.map((n) => toTensor(doc, `inputs.${n}`, file));
    const labels = toInt32(doc, 'inputs.labels', file);
    const comparisons: ParityComparison[] = [];
    try {
      let lossValue = 0;
      const grads = tf.grads((...xs: tf.Tensor[]) => {
        const l = spec.fn(xs, labels, clean(doc), file);
        lossValue = l.dataSync()[0];
        return l;
      })(tensors);
      comparisons.push(compare('outputs.loss', [lossValue], [], goldenTensor(doc, 'outputs.loss', file)));
      for (let i = 0; i < spec.inputs.length; i++) {
        const path = `grads.${spec.inputs[i]}`;
        if (hasPath(doc, path)) comparisons.push(await compareTensor(path, grads[i], goldenTensor(doc, path, file)));
      }
      tf.dispose(grads);
      return [caseResult(doc, file, comparisons)];
    } finally {
      tf.dispose(tensors);
    }
  },
};
