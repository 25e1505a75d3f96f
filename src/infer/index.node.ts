/** src/infer for Node: the browser-safe API plus segmentation from weights files to NIfTI files, case by case over a data set. */
export * from './index.js';
export {
  PROBABILITY_REGIONS,
  loadModelFile,
  probabilityFiles,
  readWeightsFile,
  segmentCaseToFile,
  segmentCases,
  segmentFolder,
  writeProbabilities,
  type CaseEvent,
  type CaseFileOptions,
  type CasesOptions,
  type CasesResult,
  type LoadedModel,
} from './segment-files.node.js';
