import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gridFromAffine, qformAffine, sformAffine } from '../../src/data/affine.js';
import { readNiftiFile, writeNiftiFile } from '../../src/data/nifti-file.node.js';
import { readNifti } from '../../src/data/nifti-read.js';
import { encodeLabelMap, encodeNifti, encodeProbabilityMap } from '../../src/data/nifti-write.js';
import type { Affine, NiftiGrid } from '../../src/data/volume.js';
import { HAVE_SHARED, SKIP_REASON, caseDir, expectMatrixClose } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'hnfnet-nifti-write-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A grid whose qform and sform differ, with a rotation, a flip (qfac −1) and odd spacings. */
const GRID: NiftiGrid = {
  dims: [5, 4, 3],
  pixdim: [-1, 0.9, 1.1, 2.5, 1, 0, 0, 0],
  xyztUnits: 10,
  qformCode: 2,
  sformCode: 4,
  quatern: [0.1, -0.2, 0.3],
  qoffset: [-90.5, 126.25, -72],
  srow: [
    [-0.9, 0.01, 0, 90],
    [0, 1.1, 0.02, -126],
    [0.001, 0, 2.5, -72],
  ],
};

function ramp(n: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

describe('encodeNifti: write, then read', () => {
  for (const [type, values] of [
    ['uint8', ramp(60, (i) => (i * 37) % 256)],
    ['int16', ramp(60, (i) => (i - 30) * 1000)],
    ['float32', ramp(60, (i) => Math.fround(Math.sin(i) * 1e3))],
    ['float64', ramp(60, (i) => Math.fround(i / 7))],
  ] as const) {
    it(`keeps ${type} voxels and every grid field exactly (.nii and .nii.gz)`, () => {
      for (const gzip of [false, true]) {
        const bytes = encodeNifti(values, GRID, { datatype: type, gzip });
        const v = readNifti(bytes, { name: `rt.${type}` });
        expect(v.header.datatype).toBe(type);
        expect(v.header.voxOffset).toBe(352);
        expect(Array.from(v.data)).toEqual(values);
        const stored = (x: number) => Math.fround(x);
        expect(v.grid.dims).toEqual(GRID.dims);
        expect(v.grid.pixdim).toEqual(GRID.pixdim.map(stored));
        expect(v.grid.qformCode).toBe(2);
        expect(v.grid.sformCode).toBe(4);
        expect(v.grid.xyztUnits).toBe(10);
        expect(v.grid.quatern).toEqual(GRID.quatern.map(stored));
        expect(v.grid.qoffset).toEqual(GRID.qoffset.map(stored));
        expect(v.grid.srow).toEqual(GRID.srow.map((r) => r.map(stored)));
        // Written again from what was read, the bytes are identical: nothing drifts on a second pass.
        expect(Buffer.from(encodeNifti(v.data, v.grid, { datatype: type, gzip: false })).equals(Buffer.from(encodeNifti(values, GRID, { datatype: type, gzip: false })))).toBe(true);
      }
    });
  }

  it('round-trips the affine exactly, and the qform survives next to a different sform', () => {
    const bytes = encodeProbabilityMap(new Float32Array(60), GRID);
    const v = readNifti(bytes);
    const g32: NiftiGrid = { ...GRID, pixdim: GRID.pixdim.map(Math.fround), quatern: GRID.quatern.map(Math.fround) as NiftiGrid['quatern'], qoffset: GRID.qoffset.map(Math.fround) as NiftiGrid['qoffset'], srow: GRID.srow.map((r) => r.map(Math.fround)) as NiftiGrid['srow'] };
    expect(v.affine).toEqual(sformAffine(g32));
    expect(qformAffine(v.grid)).toEqual(qformAffine(g32));
  });

  it('gives the same bytes for the same input (gzip mtime 0)', () => {
    const a = encodeLabelMap(new Uint8Array(60).fill(2), GRID);
    const b = encodeLabelMap(new Uint8Array(60).fill(2), GRID);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a[0]).toBe(0x1f);
  });

  it('refuses values the datatype cannot hold, and a voxel count that does not fit the grid', () => {
    expect(() => encodeLabelMap([0, 1, 256, ...new Array<number>(57).fill(0)], GRID, { name: 'out_seg.nii.gz' })).toThrow(
      'out_seg.nii.gz: voxel 2 is 256, which uint8 cannot hold exactly (range 0..255, integers only); round or clip it first',
    );
    expect(() => encodeNifti([0.5, ...new Array<number>(59).fill(0)], GRID, { datatype: 'int16', name: 'x.nii' })).toThrow(/^x\.nii: voxel 0 is 0\.5, which int16 cannot hold exactly/);
    expect(() => encodeLabelMap(new Uint8Array(59), GRID, { name: 'y.nii' })).toThrow('y.nii: has 59 voxels but the grid [5, 4, 3] needs 60');
  });

  it('writes files by path, gzip following the extension', async () => {
    const labels = ramp(60, (i) => i % 5);
    await writeNiftiFile(join(tmp, 'a', 'labels.nii.gz'), labels, GRID, { datatype: 'uint8' });
    await writeNiftiFile(join(tmp, 'labels.nii'), labels, GRID, { datatype: 'uint8' });
    expect(readFileSync(join(tmp, 'a', 'labels.nii.gz'))[0]).toBe(0x1f);
    expect(readFileSync(join(tmp, 'labels.nii')).readInt32LE(0)).toBe(348);
    for (const p of [join(tmp, 'a', 'labels.nii.gz'), join(tmp, 'labels.nii')]) expect(Array.from((await readNiftiFile(p)).data)).toEqual(labels);
    await expect(writeNiftiFile(join(tmp, 'labels.img'), labels, GRID, { datatype: 'uint8' })).rejects.toThrow(/labels\.img: output name must end in \.nii or \.nii\.gz/);
  });
});

describe('gridFromAffine', () => {
  it('derives qform fields that reproduce a rotated, flipped, scaled affine', () => {
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const affine: Affine = [
      [-1.2 * c, -2 * s, 0, 10],
      [1.2 * s, -2 * c, 0, -20],
      [0, 0, -3, 30],
      [0, 0, 0, 1],
    ];
    // det < 0: an improper frame, which the qform encodes with qfac = −1.
    const g = gridFromAffine(affine, [4, 5, 6]);
    expect(g.pixdim.slice(0, 4).map((v) => +v.toFixed(12))).toEqual([-1, 1.2, 2, 3]);
    expectMatrixClose(qformAffine(g), affine, 1e-12);
    expect(sformAffine(g)).toEqual(affine);
  });
});

describe.skipIf(!HAVE_SHARED)(`writing on a real BraTS grid ${HAVE_SHARED ? '' : `(${SKIP_REASON})`}`, () => {
  it('a label map written on the grid of a source with header extensions (vox_offset 2592) has the same grid, affine and header codes, and the same voxels', async () => {
    const src = await readNiftiFile(join(caseDir('Brats18_TCIA01_378_1'), 'Brats18_TCIA01_378_1_seg.nii.gz'));
    expect(src.header.voxOffset).toBe(2592);
    const labels = Uint8Array.from(src.data);
    const path = join(tmp, 'pred_seg.nii.gz');
    await writeNiftiFile(path, labels, src.grid, { datatype: 'uint8' });
    const back = await readNiftiFile(path);
    expect(back.grid).toEqual(src.grid);
    expect(back.affine).toEqual(src.affine);
    expect(back.spacing).toEqual(src.spacing);
    expect(Buffer.from(back.data.buffer).equals(Buffer.from(src.data.buffer))).toBe(true);
  });

  it('a float32 probability map on an image grid with qform_code 2 and sform_code 1 keeps both transforms', async () => {
    const src = await readNiftiFile(join(caseDir('Brats18_TCIA01_378_1'), 'Brats18_TCIA01_378_1_t1.nii.gz'));
    expect([src.grid.qformCode, src.grid.sformCode]).toEqual([2, 1]);
    const prob = new Float32Array(src.data.length);
    for (let i = 0; i < prob.length; i += 997) prob[i] = (i % 1000) / 1000;
    const bytes = encodeProbabilityMap(prob, src.grid, { level: 1 });
    const back = readNifti(bytes, { name: 'prob.nii.gz' });
    expect(back.grid).toEqual(src.grid);
    expect(back.affine).toEqual(src.affine);
    expect(back.header.voxOffset).toBe(352);
    expect(Buffer.from(back.data.buffer).equals(Buffer.from(prob.buffer))).toBe(true);
  });
});
