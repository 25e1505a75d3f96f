import { describe, expect, it } from 'vitest';
import { noGrad, randn, tidy } from '../../src/index.js';
import { buildModel } from '../../src/hnfnet/index.js';
import { getDevice } from '../helpers.js';

function columnNorms(mu: Float32Array, c: number, k: number): number[] {
  return Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let i = 0; i < c; i++) s += mu[i * k + j]! ** 2;
    return Math.sqrt(s);
  });
}

describe('EMA unit bases', () => {
  it('start L2-normalised over channels, follow the moving average in training, stay put in eval', async () => {
    const device = await getDevice();
    const model = buildModel('tiny', { device, seed: 5 });
    const [, C, K] = model.ema.bases.shape as [number, number, number];
    expect([C, K]).toEqual([60, 8]);
    const init = await model.ema.bases.data();
    for (const n of columnNorms(init, C, K)) expect(n).toBeCloseTo(1, 5);
    // N(0, √(2/K)) before normalisation: no column is degenerate, entries have both signs.
    expect(init.some((v) => v > 0) && init.some((v) => v < 0)).toBe(true);

    const x = randn([2, 4, 16, 16, 16], { seed: 6, device });
    model.eval();
    noGrad(() => tidy(() => model.call(x))).dispose();
    expect(await model.ema.bases.data()).toEqual(init);

    model.train();
    noGrad(() => tidy(() => model.call(x))).dispose();
    const after1 = await model.ema.bases.data();
    expect(after1).not.toEqual(init);
    // Still normalised, and a moving average with momentum 0.9: close to the old bases, not replaced.
    for (const n of columnNorms(after1, C, K)) expect(n).toBeCloseTo(1, 4);
    let dot = 0;
    for (let i = 0; i < init.length; i++) dot += init[i]! * after1[i]!;
    expect(dot / K).toBeGreaterThan(0.7);

    // Gradient recording on or off makes no difference to the update: the mode decides.
    tidy(() => model.call(x)).dispose();
    const after2 = await model.ema.bases.data();
    expect(after2).not.toEqual(after1);
    model.eval();
    tidy(() => model.call(x)).dispose();
    expect(await model.ema.bases.data()).toEqual(after2);
    x.dispose();
    model.dispose();
  });
});
