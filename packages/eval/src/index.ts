export const PACKAGE = '@hier-ts/eval';
export { type Matrix, type MatrixLike, matrix, toMatrix, l2Normalize } from './matrix.js';
export { knn, SIMILARITIES, type KnnOptions, type KnnProfile, type KnnResult, type Similarity } from './knn.js';
export { recallAtK, rankMetrics, maxRelevant, relevantCounts, type RankMetrics, type Labels } from './metrics.js';
export { kmeans, normalizedMutualInfo, nmiScore, type KMeansOptions, type KMeansResult } from './nmi.js';
export { PROTOCOLS, protocolFor, type EvalProtocol, type ProtocolName } from './protocols.js';
export {
  evaluate,
  evaluateEmbeddings,
  embedSource,
  formatEvalResult,
  type EvalSource,
  type EvalInput,
  type EmbeddedSplit,
  type EvalResult,
  type EvaluateOptions,
} from './evaluate.js';
export { poincareDistance, distToOrigin } from './poincare.js';
export { exportEmbeddingsArrow, readEmbeddingsArrow, type ExportSplit } from './export.js';
export { layout2d, type Layout2D, type Projection } from './project2d.js';
export { poincareDiskSvg, umapScatterSvg, hierarchySvg, type DiskPictureInput } from './pictures.js';
export { svgToPng, writePicture, colorFor } from './svg.js';
export {
  buildHierarchy,
  dendrogramPurity,
  hierarchyToJson,
  nodeMajority,
  type HierarchyNode,
  type LearnedHierarchy,
  type HierarchyJson,
} from './hierarchy.js';
export { writeEvalArtifacts, type ArtifactInput } from './artifacts.js';
