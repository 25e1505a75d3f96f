/**
 * Inference memory (issue 16): without gradients the model builds the concatenation in
 * place and, where it is beyond one binding, writes the EM unit's output and tail over one
 * buffer (model.ts, ema-unit.ts), so the peak of a forward is bounded by its few largest
 * tensors. That path must equal the one with gradients up to float rounding.
 */
import { describe, expect, it } from 'vitest';
import { Device, noGrad, tensor, type Tensor } from '../../src/index.js';
import { buildModel } from '../../src/hnfnet/index.js';
import type { HnfnetConfig } from '../../src/hnfnet/config.js';
import { randArray } from '../helpers.js';

const SIDE = 32;

function input(device: Device, n: number): Tensor {
  return tensor(randArray(n * 4 * SIDE ** 3, 1, -2, 2), [n, 4, SIDE, SIDE, SIDE], { device });
}

async function worstDiff(device: Device, preset: string): Promise<number> {
  const model = buildModel(preset, { device, seed: 0 }).eval();
  const x = input(device, 2);
  const plain = noGrad(() => model.call(x));
  const graphed = model.call(x);
  const [a, b] = [await plain.data(), await graphed.data()];
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  [plain, graphed, x].forEach((t) => t.dispose());
  model.dispose();
  return w;
}

describe('inference without gradients', () => {
  it('equals the forward with gradients (tiny, hnfnetv2-web; batch 2), also with blocks split at a 256 KiB binding', async () => {
    const wide = await Device.create();
    const narrow = await Device.create({ limits: { maxStorageBufferBindingSize: 1 << 18 } });
    for (const device of [wide, narrow]) {
      for (const preset of ['tiny', 'hnfnetv2-web']) {
        expect(await worstDiff(device, preset), `${preset} at ${device.limits.maxStorageBufferBindingSize} B`).toBeLessThan(1e-5);
      }
    }
    wide.destroy();
    narrow.destroy();
  }, 300_000);

  it("tiny's peak is within the skip, twice the concatenation and the EM unit's temporaries; nothing stays", async () => {
    // The in-place paths are for tensors beyond one binding (at 128³ on a 128 MiB adapter):
    // a 256 KiB binding puts tiny's 960 KiB concatenation at 32³ beyond it.
    const device = await Device.create({ limits: { maxStorageBufferBindingSize: 1 << 18 } });
    const model = buildModel('tiny', { device, seed: 0 }).eval();
    const cfg = model.config as HnfnetConfig;
    const x = input(device, 1);
    await device.sync();
    const live0 = device.memoryStats().liveBytes;
    device.resetPeakMemory();
    const y = noGrad(() => model.call(x));
    await y.data();
    const peak = device.memoryStats().peakBytes - live0;
    y.dispose();
    expect(device.memoryStats().liveBytes).toBe(live0);
    // The largest tensors: the full-scale skip, alive throughout, and the concatenation at 1/2
    // scale, which the EM unit needs beside one more tensor of its size (its output, written
    // over conv1's). Temporaries: the responsibilities Z [K, V/8], the EM unit's voxel slabs
    // of an eighth of x and its M-step partial sums, or the tail's blocks of a sixteenth.
    const v = SIDE ** 3;
    const skip = cfg.stemChannels * v * 4;
    const joined = cfg.widths.reduce((a, w) => a + w, 0) * (v / 8) * 4;
    const z = cfg.emaBases * (v / 8) * 4;
    const bound = skip + 2 * joined + z + joined / 2;
    console.log(`tiny ${SIDE}³ forward without gradients: peak ${peak} B above weights and input; bound ${bound} B (skip ${skip}, concatenation ${joined})`);
    expect(peak).toBeGreaterThanOrEqual(skip + 2 * joined);
    expect(peak).toBeLessThanOrEqual(bound);
    x.dispose();
    model.dispose();
    device.destroy();
  }, 120_000);
});
