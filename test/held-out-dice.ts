/**
 * hnfnet's own validation of held-out cases, for tests that compare it with the Dice a trainer
 * logged: each case read and preprocessed by src/data, the sliding window (no TTA), threshold
 * 0.5, Dice per region (WT, TC, ET), averaged over the cases; with the tolerance that voxels
 * within `tieBand` of the threshold allow (either side may round them either way; each moves a
 * case's Dice by at most about 2/(|P| + |G|)).
 */
import { regionDice } from '../src/train/validate.js';
import { labelsToRegions, loadCase, preprocessCase, slidingWindowInference, type Device } from '../src/index.js';
import type { SegmentationModel } from '../src/hnfnet/build.js';

export interface HeldOutDice {
  dice: Record<'WT' | 'TC' | 'ET', number>;
  tolerance: Record<'WT' | 'TC' | 'ET', number>;
}

export async function heldOutDice(model: SegmentationModel, caseDirs: readonly string[], opts: { window: [number, number, number]; overlap: number; tieBand: number; device: Device }): Promise<HeldOutDice> {
  const sums = [0, 0, 0];
  const tol = [0, 0, 0];
  for (const dir of caseDirs) {
    const pc = preprocessCase(await loadCase(dir));
    const [X, Y, Z] = pc.dims;
    const { output } = await slidingWindowInference(pc.images, [pc.channels, Z, Y, X], [(v) => model.call(v)], { window: opts.window, overlap: opts.overlap, tta: 1, activation: 'sigmoid', device: opts.device });
    const n = X * Y * Z;
    const gt = labelsToRegions(pc.labels!);
    for (let c = 0; c < 3; c++) {
      sums[c]! += regionDice(output, gt, 0.5, c * n, n);
      let ties = 0;
      let pg = 0;
      for (let i = c * n; i < (c + 1) * n; i++) {
        if (Math.abs(output[i]! - 0.5) <= opts.tieBand) ties++;
        pg += (output[i]! > 0.5 ? 1 : 0) + (gt[i]! > 0 ? 1 : 0);
      }
      tol[c]! += (2 * ties) / Math.max(1, pg - ties);
    }
  }
  const k = caseDirs.length;
  const per = (v: number[]) => ({ WT: v[0]! / k, TC: v[1]! / k, ET: v[2]! / k });
  return { dice: per(sums), tolerance: per(tol) };
}
