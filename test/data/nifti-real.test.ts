import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qformAffine, sformAffine } from '../../src/data/affine.js';
import { LABELS, MODALITIES, assembleCase } from '../../src/data/brats-case.js';
import { loadCase } from '../../src/data/case-files.node.js';
import { bboxOfMask } from '../../src/data/crop.js';
import { inspectVolume } from '../../src/data/inspect.js';
import { readNiftiFile } from '../../src/data/nifti-file.node.js';
import { readNifti } from '../../src/data/nifti-read.js';
import { brainMask } from '../../src/data/preprocess.js';
import { regionCounts } from '../../src/data/regions.js';
import type { Volume } from '../../src/data/volume.js';
import { CASE_IDS, HAVE_SHARED, SKIP_REASON, caseDir, expectMatrixClose, loadFacts, type CaseFacts, type FileFacts } from './helpers.js';

// Each file is read once and shared by the tests below (reading a BraTS volume costs ~0.1 s).
const volumes = new Map<string, Promise<Volume>>();
function read(path: string): Promise<Volume> {
  let v = volumes.get(path);
  if (!v) volumes.set(path, (v = readNiftiFile(path)));
  return v;
}

function checkHeader(v: Awaited<ReturnType<typeof readNiftiFile>>, f: FileFacts): void {
  expect(v.dims).toEqual(f.shape);
  expect(v.header.datatype).toBe(f.datatype);
  expect(v.header.datatypeCode).toBe(f.nifti_datatype_code);
  expect(v.header.bitpix).toBe(f.bitpix);
  expect(v.header.dim).toEqual(f.dim);
  expect(v.grid.pixdim).toEqual(f.pixdim);
  expect(v.spacing).toEqual(f.pixdim.slice(1, 4));
  expect(v.grid.xyztUnits).toBe(f.xyzt_units);
  expect(v.grid.qformCode).toBe(f.qform_code);
  expect(v.grid.sformCode).toBe(f.sform_code);
  expectMatrixClose([v.grid.quatern], [f.quatern_bcd]);
  expectMatrixClose([v.grid.qoffset], [f.qoffset_xyz]);
  expectMatrixClose(v.affine, f.nibabel_affine);
  expectMatrixClose(qformAffine(v.grid), f.qform_affine);
  expectMatrixClose(sformAffine(v.grid), f.sform_affine);
  expect(v.header.voxOffset).toBe(f.on_disk_header.vox_offset);
  expect(v.header.littleEndian).toBe(f.on_disk_header.endianness === 'little');
  expect(v.header.magic).toBe(f.on_disk_header.magic);
  expect(v.header.extensions).toEqual(f.on_disk_header.extensions.map((e) => ({ ecode: e.ecode, esize: e.esize_bytes_incl_8byte_head })));
  expect(v.header.scaled).toBe(false);
  expect(v.nonFinite).toBe(0);
  expect(v.warnings).toEqual([]);
}

describe.skipIf(!HAVE_SHARED)(`real BraTS files agree with facts.json (nibabel + numpy) ${HAVE_SHARED ? '' : `(${SKIP_REASON})`}`, () => {
  for (const id of CASE_IDS) {
    // Read lazily: vitest runs this body to list the tests even when the suite is skipped.
    let cached: CaseFacts | undefined;
    const facts = (): CaseFacts => (cached ??= loadFacts(id));

    for (const m of MODALITIES) {
      it(`${id} ${m}: header, affine and nonzero statistics`, async () => {
        const f = facts().modalities[m];
        const v = await read(join(caseDir(id), f.file));
        checkHeader(v, f);
        const r = inspectVolume(v);
        expect(r.voxels_total).toBe(f.voxels_total);
        expect(r.nonzero_voxels).toBe(f.nonzero_voxels);
        expect(r.min_all).toBe(f.min_all);
        expect(r.max_all).toBe(f.max_all);
        expect(r.negative_voxels).toBe(f.negative_voxels);
        expect(r.nonzero_min).toBe(f.nonzero_min);
        expect(r.nonzero_max).toBe(f.nonzero_max);
        expect(r.nonzero_mean).toBeCloseTo(f.nonzero_mean!, 9);
        expect(r.nonzero_std_pop).toBeCloseTo(f.nonzero_std_pop!, 9);
        expect(r.nonzero_p0_5_linear).toBe(f.nonzero_p0_5_linear);
        expect(r.nonzero_p99_5_linear).toBe(f.nonzero_p99_5_linear);
        expect([r.nonzero, r.min, r.max, r.p0_5, r.p99_5]).toEqual([f.nonzero_voxels, f.nonzero_min, f.nonzero_max, f.nonzero_p0_5_linear, f.nonzero_p99_5_linear]);
        expect(r.labels).toBeUndefined();
      });
    }

    it(`${id} seg: header, label counts, region counts`, async () => {
      const f = facts().seg;
      const v = await read(join(caseDir(id), f.file));
      checkHeader(v, f);
      const r = inspectVolume(v);
      expect(r.labels).toEqual(f.label_voxel_counts);
      expect(r.label_voxel_counts).toEqual(f.label_voxel_counts);
      expect(r.scl_slope).toBe(f.scl_slope);
    });

    it(`${id}: the case is one grid; internal labels, regions, brain mask and bounding boxes match`, async () => {
      const vols = await Promise.all([...MODALITIES.map((m) => read(join(caseDir(id), facts().modalities[m].file))), read(join(caseDir(id), facts().seg.file))]);
      const c = assembleCase(id, '2021', { t1: vols[0], t1ce: vols[1]!, t2: vols[2]!, flair: vols[3]! }, vols[4]!);
      expect(c.dims).toEqual([240, 240, 155]);
      const counts = [0, 0, 0, 0];
      const labels = c.labels!;
      for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
      const { seg } = facts();
      const lf = seg.label_voxel_counts!;
      expect(counts).toEqual([lf['0'], lf['1'], lf['2'], lf['4']]);
      const rf = seg.regions_voxel_counts!;
      expect(regionCounts(labels)).toEqual({ WT: rf.WT_labels_1_2_4, TC: rf.TC_labels_1_4, ET: rf.ET_label_4 });
      const tumour = bboxOfMask(labels, c.dims)!;
      expect(tumour.start).toEqual(seg.tumor_bbox_voxel_index_min_inclusive);
      expect(tumour.start.map((s, a) => s + tumour.size[a]! - 1)).toEqual(seg.tumor_bbox_voxel_index_max_inclusive);
      const mask = brainMask(c.images);
      let brainVoxels = 0;
      for (let i = 0; i < mask.length; i++) brainVoxels += mask[i]!;
      expect(brainVoxels).toBe(facts().brain_union_nonzero_voxels);
      const brain = bboxOfMask(mask, c.dims)!;
      expect(brain.start).toEqual(facts().brain_union_bbox_voxel_index_min_inclusive);
      expect(brain.start.map((s, a) => s + brain.size[a]! - 1)).toEqual(facts().brain_union_bbox_voxel_index_max_inclusive);
    });
  }

  it('loadCase reads a case folder (file discovery, 2018 names, ET 4 → internal 3)', async () => {
    const c = await loadCase(caseDir('Brats18_TCIA10_628_1'));
    expect(c.id).toBe('Brats18_TCIA10_628_1');
    expect(c.naming).toBe('2021');
    expect(c.files.t1ce).toMatch(/Brats18_TCIA10_628_1_t1ce\.nii\.gz$/);
    expect(regionCounts(c.labels!).ET).toBe(1976);
    expect(LABELS.ET).toBe(3);
    let et = 0;
    for (let i = 0; i < c.labels!.length; i++) if (c.labels![i] === 3) et++;
    expect(et).toBe(1976);
  });

  it('the browser path (fflate + CRC check) reads a real file identically to zlib', async () => {
    const f = loadFacts('Brats18_TCIA10_628_1').modalities.flair;
    const path = join(caseDir('Brats18_TCIA10_628_1'), f.file);
    const a = readNifti(readFileSync(path), { name: f.file });
    const b = await read(path);
    expect(a.header.voxOffset).toBe(11456);
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
  });
});
