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
import { loadModelFromWeights, readWeightsInfo } from '../../src/index.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { heldOutDice } from '../held-out-dice.js';
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
    const meta = decodeSafetensors(bytes, FILE).metadata;
    const heldOut = JSON.parse(meta.hnfnet_val_cases!) as string[];
    expect(heldOut).toHaveLength(info.validation!.cases);
    const { model } = loadModelFromWeights(bytes, FILE, { device });
    model.eval();
    const dirs = heldOut.map((id) => {
      const d = caseDir(id);
      if (!d) throw new Error(`held-out case ${id} is in none of ${DATA.join(', ')}`);
      return d;
    });
    const ours = await heldOutDice(model, dirs, { window: [128, 128, 128], overlap: 0.25, tieBand: 1e-4, device });
    model.dispose();
    for (const name of ['WT', 'TC', 'ET'] as const) {
      const logged = info.validation!.dice[name];
      console.log(`[shipped weights] ${name}: hnfnet ${ours.dice[name].toFixed(5)}, twin logged ${logged.toFixed(5)}`);
      expect(Math.abs(ours.dice[name] - logged), name).toBeLessThanOrEqual(1e-4 + ours.tolerance[name]);
    }
  }, 900_000);
});
