/** BraTS evaluation: Dice, HD95, sensitivity and specificity of ET, TC and WT, and BraTS 2023's lesion-wise Dice and HD95. Browser-safe. */
export { DEFAULT_ET_LABEL, boundingBox, countNonzero, regionMasks } from './masks.js';
export type { Shape3, Spacing3 } from './masks.js';
// The shared vocabulary (src/data): regions in channel and report order, boxes, voxel counts.
export { REGIONS, REPORT_ORDER, type Region } from '../data/regions.js';
export type { Box3 } from '../data/crop.js';
export { voxelCount } from '../data/volume.js';
export { confusion, sensitivity, specificity } from './confusion.js';
export type { Confusion } from './confusion.js';
export { dice, diceFromConfusion } from './dice.js';
export { surface } from './surface.js';
export { distanceTransform, squaredDistanceTransform } from './edt.js';
export { HD95_ONE_EMPTY, hausdorffPercentile, hd95, surfaceDistances } from './hd95.js';
export { mean, median, percentile } from './percentile.js';
export { METRICS, evaluateMask, evaluateRegions } from './regions-metrics.js';
export type { CaseMetrics, EvaluateOptions, MetricName, RegionMetrics } from './regions-metrics.js';
export { aggregate, aggregateLesionWise } from './aggregate.js';
export type { Aggregate, LesionWiseAggregate } from './aggregate.js';
export { connectedComponents, dilate, voxelsByLabel } from './components.js';
export type { Components, Connectivity } from './components.js';
export { surfelAreas, surfelNormals } from './surfels.js';
export { robustHausdorff, surfelDistances, surfelHd95, weightedPercentile } from './surfel-distances.js';
export type { SurfaceDistancePair, SurfelDistances } from './surfel-distances.js';
export { LESION_WISE_DEFAULTS, evaluateLesionWise, lesionWiseMask } from './lesion-wise.js';
export type { Lesion, LesionWiseCase, LesionWiseMetrics, LesionWiseOptions } from './lesion-wise.js';
export { baseName, caseId, isModalityName, isNiftiPath, isSegName, matchCases, selectSegmentations, stem } from './cases.js';
export type { CaseMatch, CasePair } from './cases.js';
export { REPORT_FORMATS, caseJson, formatReport } from './report.js';
export type { CaseResult, EvaluationReport, ReportFormat } from './report.js';
