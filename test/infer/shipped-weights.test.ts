/**
 * The shipped weights (models/README.md) against what they claim: they load as hnfnetv2-web,
 * and the TS pipeline (preprocessing, sliding window of 128³, overlap 0.25, no TTA, threshold
 * 0.5) on the real held-out cases of their fold, read from ../shared/data, gives the Dice the
 * PyTorch trainer logged for them: hnfnet's own validation reproduces the twin's.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHIPPED_WEIGHTS } from '../../src/cli/shipped-weights.js';
import { regionDice } from '../../src/train/validate.js';
import { labelsToRegions, loadCase, loadModelFromWeights, preprocessCase, readWeightsInfo, slidingWindowInference } from '../../src/index.js';
import { getDevice } from '../helpers.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const FILE = path.join(ROOT, 'models', SHIPPED_WEIGHTS);
const DATA = ['brats', 'brats18'].map((d) => path.join(ROOT, '../shared/data', d));
const caseDir = (id: string) => DATA.map((d) => path.join(d, id)).find((d) => existsSync(d));
const why = !existsSync(FILE) ? `${FILE} is not there` : !DATA.some((d) => existsSync(d)) ? 'no ../shared/data (the real BraTS cases)' : null;

describe.skipIf(why !== null)(`shipped weights${why ? ` (skipped: ${why})` : ''}`, () => {
  it('reproduce, through hnfnet’s own pipeline, the validation Dice the twin logged on their held-out fold', async () => {
    const device = await getDevice();
    const bytes = new Uint8Array(readFileSync(FILE));
    const info = readWeightsInfo(bytes, FILE);
    expect(info.preset).toBe('hnfnetv2-web');
    const meta = (await import('../../src/nn/safetensors.js')).decodeSafetensors(bytes, FILE).metadata;
    const heldOut = JSON.parse(meta.hnfnet_val_cases!) as string[];
    expect(heldOut).toHaveLength(info.validation!.cases);
    const { model } = loadModelFromWeights(bytes, FILE, { device });
    model.eval();
    const sums = [0, 0, 0];
    const tol = [0, 0, 0];
    for (const id of heldOut) {
      const dir = caseDir(id);
      if (!dir) throw new Error(`held-out case ${id} is in none of ${DATA.join(', ')}`);
      const pc = preprocessCase(await loadCase(dir));
      const [X, Y, Z] = pc.dims;
      const { output } = await slidingWindowInference(pc.images, [pc.channels, Z, Y, X], [(v) => model.call(v)], { window: [128, 128, 128], overlap: 0.25, tta: 1, activation: 'sigmoid', device });
      const n = X * Y * Z;
      const gt = labelsToRegions(pc.labels!);
      for (let c = 0; c < 3; c++) {
        sums[c]! += regionDice(output, gt, 0.5, c * n, n);
        // Voxels within float rounding of the threshold may fall either way on the two sides.
        let ties = 0;
        let pg = 0;
        for (let i = c * n; i < (c + 1) * n; i++) {
          if (Math.abs(output[i]! - 0.5) <= 1e-4) ties++;
          pg += (output[i]! > 0.5 ? 1 : 0) + (gt[i]! > 0 ? 1 : 0);
        }
        tol[c]! += (2 * ties) / Math.max(1, pg - ties);
      }
    }
    model.dispose();
    for (const [c, name] of (['WT', 'TC', 'ET'] as const).entries()) {
      const ours = sums[c]! / heldOut.length;
      const logged = info.validation!.dice[name];
      console.log(`[shipped weights] ${name}: hnfnet ${ours.toFixed(5)}, twin logged ${logged.toFixed(5)}`);
      expect(Math.abs(ours - logged), name).toBeLessThanOrEqual(1e-4 + tol[c]! / heldOut.length);
    }
  }, 900_000);
});
