/**
 * Segment a generated phantom with the tiny model (random weights unless a weights file is
 * given), then score it. Run: npx tsx examples/phantom-segment.ts [weights.safetensors]
 */
import { readFile } from 'node:fs/promises';
import { buildModel, evaluateRegions, generatePhantom, init, labelsToBrats, loadModelFromWeights, segmentCase, type Tensor } from '../src/index.js';

const device = await init();
const phantom = generatePhantom({ size: 48, seed: 7 });
const weights = process.argv[2];
const model = weights ? loadModelFromWeights(new Uint8Array(await readFile(weights)), weights, { device }).model : buildModel('tiny', { seed: 0 }).eval();
const seg = await segmentCase(phantom, [(x: Tensor) => model.call(x)], { window: 32, tta: 1, crop: 'brain' });
const [X, Y, Z] = phantom.dims;
const scores = evaluateRegions(labelsToBrats(seg.labels, '2021'), labelsToBrats(phantom.labels!, '2021'), [Z, Y, X], [1, 1, 1]);
console.log(JSON.stringify({ case: phantom.id, windows: seg.windows, WT: scores.WT.dice, TC: scores.TC.dice, ET: scores.ET.dice }));
model.dispose();
