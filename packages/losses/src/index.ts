export { HIERLoss, hierLossParts, HIER_DEFAULTS, type HierConfig, type HierCallOptions, type HierLossOptions, type HierParts } from './hier.js';
export { hierTerm, type TermResult, type TermTriplets } from './hier-term.js';
export { reciprocalKnnTriplets, type MinedTriplets } from './miners/reciprocal-knn.js';
export { gumbelRows, gumbelStream, hashGumbel, lowbias32, zigguratExp, type GumbelSpec, type GumbelRowFn, type GumbelStream } from './gumbel.js';
export { ProxyAnchorLoss, proxyAnchorLoss, ProxyLossBase, PROXY_ANCHOR_DEFAULTS, type ProxyAnchorConfig, type ProxyLossOptions } from './proxy-anchor.js';
export {
  MultiSimilarityLoss,
  multiSimilarityLoss,
  hyperbolicMSLoss,
  MULTI_SIMILARITY_DEFAULTS,
  HYPERBOLIC_MS_DEFAULTS,
  type MultiSimilarityConfig,
  type HyperbolicMSConfig,
} from './multi-similarity.js';
export { SupConLoss, supConLoss, SUPCON_DEFAULTS, type SupConConfig } from './supcon.js';
export { PNCALoss, pncaLoss, type PNCAConfig } from './pnca.js';
export { SoftTripleLoss, softTripleLoss, SOFT_TRIPLE_DEFAULTS, type SoftTripleConfig } from './soft-triple.js';
export { createMetricLoss, createHierLoss, METRIC_LOSS_NAMES, type MetricLossName, type MetricLossOptions } from './registry.js';
export { cosineSimilarity, dotSimilarity, hyperbolicSimilarity, l2Normalize } from './distances.js';
export { checkEmbeddings, readLabels } from './validate.js';
