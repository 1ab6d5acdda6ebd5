/**
 * The single place where hier-ts imports TensorFlow.js. The union package is required (not tfjs-core
 * alone): only it registers the gradients that training needs (platform notes, TF.js §1).
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
