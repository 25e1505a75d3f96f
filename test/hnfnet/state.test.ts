import { describe, expect, it, beforeAll } from 'vitest';
import { noGrad, randn, tidy, type Device } from '../../src/index.js';
import { loadStateDict, saveStateDict, StateDictError } from '../../src/nn/index.js';
import { buildModel, presetConfig, type HnfnetConfig } from '../../src/hnfnet/index.js';
import { getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

describe('hnfnet state dicts', () => {
  it('save → load into a model built with another seed gives identical outputs', async () => {
    const a = buildModel('tiny', { device, seed: 1 });
    // A training-mode pass moves the EM bases away from their initial values, so the buffer round trip matters.
    noGrad(() => tidy(() => a.call(randn([1, 4, 16, 16, 16], { seed: 8, device })))).dispose();
    a.eval();
    const b = buildModel('tiny', { device, seed: 2 }).eval();
    const x = randn([1, 4, 32, 16, 16], { seed: 9, device });
    const ya = await noGrad(() => tidy(() => a.call(x))).data();
    const before = await noGrad(() => tidy(() => b.call(x))).data();
    expect(before).not.toEqual(ya);

    const bytes = await saveStateDict(a, { model: 'tiny' });
    expect(loadStateDict(b, bytes, { source: 'tiny.safetensors' })).toEqual({ model: 'tiny' });
    const yb = await noGrad(() => tidy(() => b.call(x))).data();
    expect(yb).toEqual(ya);
    expect(await b.ema.bases.data()).toEqual(await a.ema.bases.data());
    x.dispose();
    a.dispose();
    b.dispose();
  });

  it('loading a file of another configuration reports every mismatch at once and changes nothing', async () => {
    const base = presetConfig('tiny') as HnfnetConfig;
    const other = buildModel({ ...base, emaBases: 4, interSde: false, outChannels: 2 }, { device });
    const model = buildModel('tiny', { device, seed: 4 });
    const headBefore = await model.head.weight.data();
    const bytes = await saveStateDict(other);
    let err: unknown;
    try {
      loadStateDict(model, bytes, { source: 'other.safetensors' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    // 15 inter-scale SDE tensors missing, the bases' K and the head's outputs: all in one message.
    expect(msg).toMatch(/^other\.safetensors does not fit the model \(18 problems\)/);
    expect(msg).toContain('head.weight: shape [2, 4, 1, 1, 1] in file, model has [3, 4, 1, 1, 1]');
    expect(msg).toContain('head.bias: shape [2] in file, model has [3]');
    expect(msg).toContain('ema.mu: shape [1, 60, 4] in file, model has [1, 60, 8]');
    for (const i of [0, 1, 2]) {
      expect(msg).toContain(`missing in file: inter_sde.squeeze.${i}.weight`);
      expect(msg).toContain(`missing in file: inter_sde.fuse.${i}.norm.bias`);
    }
    expect(await model.head.weight.data()).toEqual(headBefore);
    other.dispose();
    model.dispose();
  });
});
