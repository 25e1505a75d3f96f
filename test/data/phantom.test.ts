import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCase, writePhantomCase } from '../../src/data/case-files.node.js';
import { bboxOfMask } from '../../src/data/crop.js';
import { readNifti } from '../../src/data/nifti-read.js';
import { generatePhantom, phantomFiles } from '../../src/data/phantom.js';
import { brainMask } from '../../src/data/preprocess.js';
import { regionCounts } from '../../src/data/regions.js';
import { expectMatrixClose } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'hnfnet-phantom-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function meanWhere(img: Float32Array, pick: (i: number) => boolean): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < img.length; i++) if (pick(i)) (s += img[i]!), n++;
  return s / n;
}

describe('phantom generator', () => {
  const a = generatePhantom({ seed: 1 });

  it('is deterministic per seed and varies tumour position and size between seeds', () => {
    const again = generatePhantom({ seed: 1 });
    expect(Buffer.from(again.labels!).equals(Buffer.from(a.labels!))).toBe(true);
    expect(Buffer.from(again.images[2]!.buffer).equals(Buffer.from(a.images[2]!.buffer))).toBe(true);
    const boxes = [1, 2, 3, 4].map((seed) => bboxOfMask(seed === 1 ? a.labels! : generatePhantom({ seed, size: 64 }).labels!, a.dims)!);
    const starts = new Set(boxes.map((b) => b.start.join(',')));
    const sizes = new Set(boxes.map((b) => b.size.join(',')));
    expect(starts.size).toBe(4);
    expect(sizes.size).toBe(4);
  });

  it('has an ellipsoid brain holding a nested tumour with all three labels', () => {
    expect(a.dims).toEqual([64, 64, 64]);
    const brain = brainMask(a.images);
    let brainN = 0;
    let outside = 0;
    for (let i = 0; i < brain.length; i++) {
      brainN += brain[i]!;
      if (a.labels![i]! > 0 && !brain[i]) outside++;
    }
    expect(brainN / brain.length).toBeGreaterThan(0.2);
    expect(brainN / brain.length).toBeLessThan(0.35);
    expect(outside).toBe(0);
    const r = regionCounts(a.labels!);
    expect(r.ET).toBeGreaterThan(100);
    expect(r.TC).toBeGreaterThan(r.ET);
    expect(r.WT).toBeGreaterThan(r.TC);
    expect(r.WT / brainN).toBeGreaterThan(0.01);
    // Background outside the brain is exactly 0 in every modality; inside it is ≥ 1.
    let wrong = 0;
    for (const img of a.images) for (let i = 0; i < img.length; i++) if ((img[i]! === 0) !== !brain[i] || (brain[i] && img[i]! < 1)) wrong++;
    expect(wrong).toBe(0);
  });

  it('gives each tumour part the contrast of real MRI (learnable)', () => {
    const L = a.labels!;
    const brain = brainMask(a.images);
    const healthy = (i: number) => brain[i] === 1 && L[i] === 0;
    const [, t1ce, t2, flair] = a.images as [Float32Array, Float32Array, Float32Array, Float32Array];
    const ratio = (img: Float32Array, label: number) => meanWhere(img, (i) => L[i] === label) / meanWhere(img, healthy);
    expect(ratio(t1ce, 3)).toBeGreaterThan(2); // ET enhances
    expect(ratio(t1ce, 1)).toBeLessThan(0.6); // NCR does not
    expect(ratio(flair, 2)).toBeGreaterThan(1.5); // oedema is bright on FLAIR
    expect(ratio(t2, 2)).toBeGreaterThan(1.5); // and on T2
    expect(ratio(flair, 1)).toBeGreaterThan(1.2);
  });

  it('accepts any size', () => {
    const b = generatePhantom({ size: [40, 48, 32], seed: 5 });
    expect(b.dims).toEqual([40, 48, 32]);
    expect(b.images[0]!.length).toBe(40 * 48 * 32);
    expect(regionCounts(b.labels!).ET).toBeGreaterThan(0);
    expect(() => generatePhantom({ size: 8 })).toThrow(/at least 16/);
  });

  it('writes a BraTS 2018-style case: names, int16 images, uint8 seg with 0/1/2/4, 1 mm LPS affine', async () => {
    const files = phantomFiles({ size: 32, seed: 3, id: 'Phantom3' });
    expect(files.map((f) => f.name)).toEqual(['Phantom3_t1.nii.gz', 'Phantom3_t1ce.nii.gz', 'Phantom3_t2.nii.gz', 'Phantom3_flair.nii.gz', 'Phantom3_seg.nii.gz']);
    const t1 = readNifti(files[0]!.bytes);
    const seg = readNifti(files[4]!.bytes);
    expect(t1.header.datatype).toBe('int16');
    expect(seg.header.datatype).toBe('uint8');
    expect([...new Set(seg.data)].sort()).toEqual([0, 1, 2, 4]);
    expect(t1.spacing).toEqual([1, 1, 1]);
    expectMatrixClose(t1.affine, [[-1, 0, 0, 0], [0, -1, 0, 31], [0, 0, 1, 0], [0, 0, 0, 1]]);
    expect([t1.grid.qformCode, t1.grid.sformCode]).toEqual([1, 1]);
    expect(t1.grid.quatern).toEqual([0, 0, 1]);
    const dir = await writePhantomCase(tmp, { size: 32, seed: 3 });
    expect(readdirSync(dir).sort()).toEqual(['phantom-3_flair.nii.gz', 'phantom-3_seg.nii.gz', 'phantom-3_t1.nii.gz', 'phantom-3_t1ce.nii.gz', 'phantom-3_t2.nii.gz']);
    const c = await loadCase(dir);
    const g = generatePhantom({ size: 32, seed: 3 });
    expect(Array.from(c.labels!)).toEqual(Array.from(g.labels!));
    expect(Array.from(c.images[1]!)).toEqual(Array.from(g.images[1]!));
  });
});
