/**
 * The post-processing a weights file recommends (`hnfnet_keep_largest`), which `hnfnet infer`
 * applies when --keep-largest is not given.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/nn/safetensors.js';
import { KEEP_LARGEST_KEY, weightsKeepLargest } from '../../src/hnfnet/weights.js';
import { HnfnetError } from '../../src/tensor/errors.js';

const file = (metadata: Record<string, string>): Uint8Array =>
  encodeSafetensors(new Map([['w', { dtype: 'F32' as const, shape: [2], bytes: new Uint8Array(new Float32Array([1, 2]).buffer) }]]), metadata);

describe('weightsKeepLargest', () => {
  it('reads the regions in order, an empty list for "", null where the file says nothing', () => {
    expect(weightsKeepLargest(file({ [KEEP_LARGEST_KEY]: 'WT,TC' }), 'a')).toEqual(['WT', 'TC']);
    expect(weightsKeepLargest(file({ [KEEP_LARGEST_KEY]: ' ET ' }), 'a')).toEqual(['ET']);
    expect(weightsKeepLargest(file({ [KEEP_LARGEST_KEY]: '' }), 'a')).toEqual([]);
    expect(weightsKeepLargest(file({}), 'a')).toBeNull();
  });

  it('refuses a region it does not know, naming the file', () => {
    expect(() => weightsKeepLargest(file({ [KEEP_LARGEST_KEY]: 'WT,XX' }), 'w.safetensors')).toThrow(HnfnetError);
    expect(() => weightsKeepLargest(file({ [KEEP_LARGEST_KEY]: 'WT,XX' }), 'w.safetensors')).toThrow(/w\.safetensors.*"XX"/);
  });

  it('the shipped weights recommend what the cross-validation chose (runs/brats18-web/postprocessing.json)', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const decision = JSON.parse(readFileSync(path.join(root, 'runs/brats18-web/postprocessing.json'), 'utf8')) as { keepLargest: string[] };
    const shipped = new Uint8Array(readFileSync(path.join(root, 'models/hnfnetv2-web-brats18.safetensors')));
    expect(weightsKeepLargest(shipped, 'shipped')).toEqual(decision.keepLargest);
  });
});
