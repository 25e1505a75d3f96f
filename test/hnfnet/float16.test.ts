/**
 * A whole model in float16 storage (parameters and activations; f32 arithmetic) against its
 * float32 forward on the same input. Each layer rounds its output to float16 (2^-11
 * relative), and the instance norms keep the rounding from growing layer by layer, so the
 * logits stay within a few hundredths of their f32 values (their spread here is ~1).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { noGrad, randn, tidy, type Device } from '../../src/index.js';
import { buildModel } from '../../src/hnfnet/index.js';
import { predictorAt } from '../../src/infer/precision.js';
import { getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
  if (!device.hasHalf) throw new Error(`these tests need an adapter with shader-f16 (${device.adapterInfo})`);
});

function stats(a: Float32Array, b: Float32Array): { maxLogit: number; maxProb: number; spread: number } {
  let maxLogit = 0;
  let maxProb = 0;
  let lo = Infinity;
  let hi = -Infinity;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  for (let i = 0; i < a.length; i++) {
    maxLogit = Math.max(maxLogit, Math.abs(a[i]! - b[i]!));
    maxProb = Math.max(maxProb, Math.abs(sig(a[i]!) - sig(b[i]!)));
    lo = Math.min(lo, b[i]!);
    hi = Math.max(hi, b[i]!);
  }
  return { maxLogit, maxProb, spread: hi - lo };
}

describe('float16 inference of a model', () => {
  for (const preset of ['tiny', 'unet3d', 'hnfnetv2-web'] as const) {
    it(`${preset}: f16 logits (returned as f32) match the f32 forward`, async () => {
      const model = buildModel(preset, { device, seed: 3 }).eval();
      // hnfnetv2-web's coarsest branch runs at 1/32 scale.
      const side = preset === 'hnfnetv2-web' ? 32 : 16;
      const x = randn([1, 4, side, side, side], { seed: 7, device });
      const want = await noGrad(() => tidy(() => model.call(x))).data();
      const predict = predictorAt(model, 'f16');
      expect(model.parameters().every((p) => p.dtype === 'float16')).toBe(true);
      const y = predict(x);
      expect(y.dtype).toBe('float32');
      const s = stats(await y.data(), want);
      console.log(`${preset} f16 vs f32: max |Δlogit| ${s.maxLogit.toExponential(2)}, max |Δp| ${s.maxProb.toExponential(2)}, logit spread ${s.spread.toFixed(2)}`);
      expect(s.maxLogit).toBeLessThan(0.005 * Math.max(1, s.spread));
      expect(s.maxProb).toBeLessThan(0.01);
      // With gradients on, a float16 forward is refused: training keeps float32.
      expect(() => model.call(x.to('float16'))).toThrow(/gradients are float32 only/);
      model.dispose();
    });
  }
});
