/**
 * The demo page: the segmenter mounted full-page. Query parameters set its options, so a link
 * (or a test) can ask for a particular run, e.g. `?case=phantom&phantomSize=48&weights=none&trainSteps=2`
 * (`&viewer=slices` for the plain canvases instead of NiiVue, `&precision=f32|f16` to override
 * the automatic choice (f16 on GPUs with shader-f16), `&keepLargest=0` to skip the weights'
 * post-processing).
 * Without `weights=` the page loads the shipped weights.
 */
import { mountSegmenter, type SegmenterOptions } from './segmenter.js';

/** Served by web/serve.ts from models/ (models/README.md). */
const SHIPPED_WEIGHTS_URL = 'models/hnfnetv2-web-brats18.safetensors';

const q = new URLSearchParams(location.search);
const num = (k: string): number | undefined => (q.has(k) && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : undefined);

const options: SegmenterOptions = {};
const set = <K extends keyof SegmenterOptions>(k: K, v: SegmenterOptions[K] | undefined) => {
  if (v !== undefined) options[k] = v;
};
set('phantomSize', num('phantomSize'));
set('phantomSeed', num('phantomSeed'));
set('trainSeconds', num('trainSeconds'));
set('trainSteps', num('trainSteps'));
set('trainPatch', num('trainPatch'));
set('window', num('window'));
set('overlap', num('overlap'));
set('viewSize', num('viewSize'));
if (q.get('case') === 'phantom') options.initialCase = 'phantom';
const viewer = q.get('viewer');
if (viewer === 'niivue' || viewer === 'slices') options.viewer = viewer;
// The shipped weights unless the link names others, or `weights=none` (train on phantoms in the page).
const weights = q.get('weights') ?? SHIPPED_WEIGHTS_URL;
if (weights !== 'none') options.weightsUrl = weights;
if (q.has('tta')) options.tta = q.get('tta') !== '0';
if (q.has('keepLargest')) options.keepLargest = q.get('keepLargest') !== '0';
const precision = q.get('precision');
if (precision === 'auto' || precision === 'f32' || precision === 'f16') options.precision = precision;

const app = document.getElementById('app');
if (!app) throw new Error('index.html has no #app element');
const segmenter = mountSegmenter(app, options);
// For the console and the end-to-end test.
(window as Window & { hnfnetSegmenter?: typeof segmenter }).hnfnetSegmenter = segmenter;
