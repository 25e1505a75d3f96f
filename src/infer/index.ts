/** Inference: sliding windows with test-time augmentation, whole cases, post-processing (keep-largest components included), figures. Browser-safe. */
export * from './sliding-window.js';
export * from './postprocess.js';
export { predictorAt, resolvePrecision, PRECISIONS, type Precision } from './precision.js';
export * from './keep-largest.js';
export * from './keep-largest-decision.js';
export { segmentCase, inferenceBox, DEFAULT_CROP, type SegmentOptions, type Segmentation } from './inferencer.js';
export { ensembleFittingWindow, fittingWindow, largestBufferBytes, shrinkNote, windowOptions, WINDOW_CHOICES, type BufferLimits, type WindowOption } from './window-fit.js';
export { renderOverlay, LABEL_COLOURS, type OverlayFigure } from './overlay.js';
