/**
 * src/data: the BraTS data pipeline (CPU only, no GPU code). Everything exported here runs
 * unchanged in a browser; Node's path-, folder- and worker-based additions are in index.node.ts.
 *
 * Layout: a Volume's voxels are x-fastest over dims [X, Y, Z], which is the same memory as a
 * row-major [D, H, W] array with D = Z, H = Y, W = X; batches are [B, C, D, H, W].
 */
export { DataError, OverwriteError } from './errors.js';
export { Rng, type RngState } from './rng.js';
export { crc32, gunzipChecked, gzip, isGzip, type GunzipFn, type GunzipOptions, type InflateBound } from './gzip.js';
export { INFLATE_SLACK, gunzipNifti, niftiInflateBound } from './nifti-gzip.js';
export type { Affine, DatatypeName, Dims3, NiftiExtensionInfo, NiftiGrid, NiftiHeaderInfo, Row4, Volume, VoxelArray } from './volume.js';
export { affineDistance, sameDims, voxelCount, voxelIndex } from './volume.js';
export {
  affineFromGl,
  affineToGl,
  bestAffine,
  gridFromAffine,
  identityAffine,
  pixdimAffine,
  qformAffine,
  sformAffine,
  voxelToWorld,
  type AffineSource,
  type GridFromAffineOptions,
} from './affine.js';
export { DATATYPES, datatypeByCode, parseNiftiHeader, type DatatypeInfo, type ParsedHeader } from './nifti-header.js';
export { readNifti, readNiftiBlob, type NonFinitePolicy, type ReadNiftiOptions } from './nifti-read.js';
export { encodeLabelMap, encodeNifti, encodeProbabilityMap, type EncodeNiftiOptions, type GzipLevel } from './nifti-write.js';
export { maskedValues, moments, nonzeroValues, percentiles, selectKth, valueCounts, type MomentStats } from './stats.js';
export { inspectVolume, type InspectOptions, type InspectReport } from './inspect.js';
export {
  LABELS,
  MODALITIES,
  NAMINGS,
  assembleCase,
  caseFileName,
  encodeCaseFiles,
  groupCaseFiles,
  labelsFromBrats,
  labelsToBrats,
  loadCaseFromBlobs,
  loadCaseFromBuffers,
  matchCaseFiles,
  parseCaseFileName,
  type AssembleOptions,
  type BratsCase,
  type BratsNaming,
  type CaseEncodeOptions,
  type CaseFileKind,
  type CaseFiles,
  type CaseReadOptions,
  type Modality,
  type NamedBytes,
  type NamingConvention,
} from './brats-case.js';
export { REGIONS, labelsToRegions, regionCounts, regionsToLabels, type Region } from './regions.js';
export { brainMask, foregroundIndices, normalizeInBrain, preprocessCase, type ChannelStats, type PreprocessOptions, type PreprocessedCase } from './preprocess.js';
export { bboxOfMask, centerBox, cropVolume, randomBox, uncropVolume, type Box3, type RandomBoxOptions } from './crop.js';
export {
  DEFAULT_AUGMENT,
  augmentConfig,
  extractPatch,
  identityAugment,
  rotationMatrix,
  sampleAugment,
  type AugmentConfig,
  type AugmentOverrides,
  type AugmentParams,
  type Patch,
  type PatchOutput,
  type PatchSource,
} from './augment.js';
export { generatePhantom, phantomAffine, phantomFiles, type PhantomOptions } from './phantom.js';
export {
  DEFAULT_LOADER,
  InMemoryProvider,
  LruCache,
  SameThreadLoader,
  SampleOrder,
  buildBatch,
  loaderConfig,
  phantomCaseSeed,
  phantomProvider,
  type Batch,
  type BatchLoader,
  type CaseProvider,
  type FolderSourceSpec,
  type LoaderConfig,
  type PhantomSourceSpec,
  type SourceSpec,
} from './loader.js';
