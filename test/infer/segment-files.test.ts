/**
 * The library's file-to-file segmentation (what `hnfnet infer` calls): a data set case by case,
 * each case written as `segmentCase` segments it, one bad case reported and skipped, complete
 * outputs skipped on request (segmentFolder over the data set's case folders), the weights never
 * written over. On 24³ phantoms and the tiny model.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelsToBrats } from '../../src/data/brats-case.js';
import { loadCase, readNiftiFile, writePhantomCase } from '../../src/data/index.node.js';
import { DataError, OverwriteError } from '../../src/data/errors.js';
import { buildModel } from '../../src/hnfnet/build.js';
import { presetConfig } from '../../src/hnfnet/config.js';
import { saveWeights } from '../../src/hnfnet/weights.js';
import { segmentCase } from '../../src/infer/inferencer.js';
import { loadModelFile, segmentCases, segmentFolder, type CaseEvent } from '../../src/infer/segment-files.node.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { getDevice } from '../helpers.js';

let dir: string;
let weights: string;
let bytes: Uint8Array;

beforeAll(async () => {
  await getDevice();
  dir = mkdtempSync(join(tmpdir(), 'hnfnet-segment-files-'));
  const model = buildModel('tiny', { seed: 3 });
  bytes = await saveWeights(model, presetConfig('tiny'), 'tiny');
  model.dispose();
  weights = join(dir, 'tiny.safetensors');
  writeFileSync(weights, bytes);
});

describe('loadModelFile', () => {
  it('names a folder or a missing file given as weights', async () => {
    await expect(loadModelFile(dir)).rejects.toThrow(`${dir}: cannot read the weights file (EISDIR, it is a folder)`);
    await expect(loadModelFile(join(dir, 'none.safetensors'))).rejects.toThrow(DataError);
  });
});

describe('segmentCases', () => {
  it('writes each case as segmentCase segments it, reports a bad case and goes on, skips complete outputs, never writes over the weights', async () => {
    const device = await getDevice();
    const data = join(dir, 'data');
    const [a, b] = [await writePhantomCase(data, { size: 24, seed: 1 }), await writePhantomCase(data, { size: 24, seed: 2 })];
    const bad = join(data, 'not-a-case');
    mkdirSync(bad);
    writeFileSync(join(bad, 'notes.txt'), 'no images here');
    const m = await loadModelFile(weights, { device });
    const opts = { device, tta: 1, window: 16, overlap: 0.5 };
    const out = join(dir, 'preds');
    const probs = join(dir, 'probs');
    const events: string[] = [];
    const log = (e: CaseEvent) => events.push(`${e.kind} ${e.index + 1}/${e.total}`);
    const r = await segmentCases([a!, bad, b!], out, [m], { ...opts, probabilitiesDir: probs, onCase: log });
    expect(r).toMatchObject({ total: 3, written: 2, skipped: 0 });
    expect(r.failed.map((f) => f.error.message)).toEqual([`${bad}: holds no files named as a BraTS case`]);
    expect(events).toEqual(['written 1/3', 'failed 2/3', 'written 3/3']);

    const [ida, idb] = [basename(a!), basename(b!)];
    const c = await loadCase(a!);
    const direct = await segmentCase(c, [(x: Tensor) => m.model.call(x)], opts);
    const written = await readNiftiFile(join(out, `${ida}.nii.gz`));
    expect(written.dims).toEqual([24, 24, 24]);
    expect(Array.from(written.data)).toEqual(Array.from(labelsToBrats(direct.labels, c.naming)));
    expect(readdirSync(probs).sort()).toEqual([ida, idb].flatMap((id) => ['et', 'tc', 'wt'].map((r) => `${id}_${r}.nii.gz`)));

    events.length = 0;
    // segmentFolder finds the two case folders (not the one without images) and skips them.
    const again = await segmentFolder(data, out, [m], { ...opts, skipExisting: true, onCase: log });
    expect(again).toMatchObject({ written: 0, skipped: 2, failed: [] });
    expect(events).toEqual(['skipped 1/2', 'skipped 2/2']);

    // Weights stored where a case's output would go: refused, and the weights are untouched.
    const clash = join(dir, 'clash');
    mkdirSync(clash);
    const there = join(clash, `${ida}.nii.gz`);
    writeFileSync(there, bytes);
    const m2 = await loadModelFile(there, { device });
    const r3 = await segmentCases([a!], clash, [m2], opts);
    expect(r3.written).toBe(0);
    expect(r3.failed[0]!.error).toBeInstanceOf(OverwriteError);
    expect(r3.failed[0]!.error.message).toContain(`the output ${there} is the input ${there}`);
    expect(readFileSync(there).equals(Buffer.from(bytes))).toBe(true);
    m.model.dispose();
    m2.model.dispose();
  }, 240_000);
});
