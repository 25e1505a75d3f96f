import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  caseFileName,
  encodeCaseFiles,
  groupCaseFiles,
  labelsFromBrats,
  labelsToBrats,
  loadCaseFromBuffers,
  matchCaseFiles,
  parseCaseFileName,
} from '../../src/data/brats-case.js';
import { listCaseDirs, loadCase, writeCase, writeSegmentation } from '../../src/data/case-files.node.js';
import { readNiftiFile } from '../../src/data/nifti-file.node.js';
import { encodeNifti } from '../../src/data/nifti-write.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { labelsToRegions, regionCounts, regionsToLabels } from '../../src/data/regions.js';
import type { NiftiGrid } from '../../src/data/volume.js';

const tmp = mkdtempSync(join(tmpdir(), 'hnfnet-cases-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('case file names', () => {
  it('recognises BraTS 2018–2021 and 2023 names', () => {
    expect(parseCaseFileName('/d/Brats18_TCIA01_378_1_t1ce.nii.gz')).toEqual({ id: 'Brats18_TCIA01_378_1', naming: '2021', kind: 't1ce' });
    expect(parseCaseFileName('BraTS2021_00000_t1.nii.gz')).toEqual({ id: 'BraTS2021_00000', naming: '2021', kind: 't1' });
    expect(parseCaseFileName('BraTS2021_00000_flair.nii')).toEqual({ id: 'BraTS2021_00000', naming: '2021', kind: 'flair' });
    expect(parseCaseFileName('BraTS-GLI-00000-000-t1n.nii.gz')).toEqual({ id: 'BraTS-GLI-00000-000', naming: '2023', kind: 't1' });
    expect(parseCaseFileName('BraTS-GLI-00000-000-t1c.nii.gz')?.kind).toBe('t1ce');
    expect(parseCaseFileName('BraTS-GLI-00000-000-t2w.nii.gz')?.kind).toBe('t2');
    expect(parseCaseFileName('BraTS-GLI-00000-000-t2f.nii.gz')?.kind).toBe('flair');
    expect(parseCaseFileName('C:\\data\\BraTS-GLI-00000-000-seg.nii.gz')).toEqual({ id: 'BraTS-GLI-00000-000', naming: '2023', kind: 'seg' });
    expect(parseCaseFileName('facts.json')).toBeNull();
    expect(parseCaseFileName('x_t1.mha')).toBeNull();
    expect(caseFileName('X', 'flair', '2023')).toBe('X-t2f.nii.gz');
    expect(caseFileName('X', 't1ce', '2021', false)).toBe('X_t1ce.nii');
  });

  it('groups files into cases, with or without a segmentation', () => {
    const names = ['a_t1.nii.gz', 'a_t1ce.nii.gz', 'a_t2.nii.gz', 'a_flair.nii.gz', 'a_seg.nii.gz', 'README.md', 'B-t1n.nii.gz', 'B-t1c.nii.gz', 'B-t2w.nii.gz', 'B-t2f.nii.gz'];
    const cases = groupCaseFiles(names);
    expect(cases).toEqual([
      { id: 'B', naming: '2023', images: { t1: 'B-t1n.nii.gz', t1ce: 'B-t1c.nii.gz', t2: 'B-t2w.nii.gz', flair: 'B-t2f.nii.gz' }, seg: null },
      { id: 'a', naming: '2021', images: { t1: 'a_t1.nii.gz', t1ce: 'a_t1ce.nii.gz', t2: 'a_t2.nii.gz', flair: 'a_flair.nii.gz' }, seg: 'a_seg.nii.gz' },
    ]);
  });

  it('names the folder, the case and the problem when files are missing, doubled or from two cases', () => {
    expect(() => matchCaseFiles(['a_t1.nii.gz', 'a_t2.nii.gz', 'a_seg.nii.gz'], '/data/a')).toThrow(
      '/data/a: case a (BraTS 2018–2021 names) has no t1ce, flair image (expected files ending _t1ce.nii[.gz], _flair.nii[.gz])',
    );
    expect(() => matchCaseFiles(['B-t1n.nii.gz', 'B-t1c.nii.gz', 'B-t2w.nii.gz'], '/data/B')).toThrow(/^\/data\/B: case B \(BraTS 2023 names\) has no flair image \(expected files ending -t2f\.nii\[\.gz\]\)/);
    expect(() => matchCaseFiles(['a_t1.nii.gz', 'a_t1.nii', 'a_t1ce.nii.gz', 'a_t2.nii.gz', 'a_flair.nii.gz'], '/data/a')).toThrow('/data/a: case a has two files for t1: a_t1.nii.gz and a_t1.nii');
    const two = ['a_t1.nii', 'a_t1ce.nii', 'a_t2.nii', 'a_flair.nii', 'b_t1.nii', 'b_t1ce.nii', 'b_t2.nii', 'b_flair.nii'];
    expect(() => matchCaseFiles(two, '/data/mixed')).toThrow('/data/mixed: holds files of 2 cases (a, b); expected one');
    expect(() => matchCaseFiles(['notes.txt'], '/data/empty')).toThrow(/^\/data\/empty: no BraTS images found/);
  });
});

describe('labels and regions', () => {
  it('maps file labels to internal ones (ET 4 or 3 → 3) and back', () => {
    expect(Array.from(labelsFromBrats([0, 1, 2, 4], '2021', 's'))).toEqual([0, 1, 2, 3]);
    expect(Array.from(labelsFromBrats([0, 1, 2, 3], '2023', 's'))).toEqual([0, 1, 2, 3]);
    expect(Array.from(labelsToBrats(Uint8Array.from([0, 1, 2, 3]), '2021'))).toEqual([0, 1, 2, 4]);
    expect(Array.from(labelsToBrats(Uint8Array.from([0, 1, 2, 3]), '2023'))).toEqual([0, 1, 2, 3]);
  });

  it('refuses labels outside the convention, naming the file and the values', () => {
    expect(() => labelsFromBrats([0, 3, 3, 7], '2021', 'x_seg.nii.gz')).toThrow(
      'x_seg.nii.gz: segmentation holds labels 3 (2 voxels), 7 (1 voxels) that BraTS 2018–2021 does not use (expected 0, 1, 2, 4)',
    );
    expect(() => labelsFromBrats([4, 0.5], '2023', 'y-seg.nii.gz')).toThrow(/^y-seg\.nii\.gz: segmentation holds labels 4 \(1 voxels\), 0\.5 \(1 voxels\) that BraTS 2023 does not use \(expected 0, 1, 2, 3\)/);
  });

  it('WT = {1,2,ET}, TC = {1,ET}, ET; and back with ED < NCR < ET overwriting', () => {
    const labels = Uint8Array.from([0, 1, 2, 3, 2, 0]);
    const r = labelsToRegions(labels);
    expect(Array.from(r)).toEqual([0, 1, 1, 1, 1, 0, /* TC */ 0, 1, 0, 1, 0, 0, /* ET */ 0, 0, 0, 1, 0, 0]);
    expect(Array.from(regionsToLabels(r, 6))).toEqual(Array.from(labels));
    expect(regionCounts(labels)).toEqual({ WT: 4, TC: 2, ET: 1 });
    // Probabilities: threshold 0.5; an inconsistent ET without WT still becomes ET (last writer wins).
    const probs = [0.9, 0.2, 0.6, 0.1, /* TC */ 0.7, 0.1, 0.4, 0.2, /* ET */ 0.2, 0.1, 0.1, 0.8];
    expect(Array.from(regionsToLabels(probs, 4))).toEqual([1, 0, 2, 3]);
    const u8 = labelsToRegions(labels, new Uint8Array(20), 2);
    expect(Array.from(u8.subarray(2))).toEqual(Array.from(r));
  });
});

describe('cases on disk and in memory', () => {
  const phantom = generatePhantom({ size: 24, seed: 11, id: 'P11' });

  it('writes and reads back a case in both conventions, keeping voxels, grid and labels', async () => {
    for (const naming of ['2021', '2023'] as const) {
      const dir = join(tmp, `P11-${naming}`);
      const paths = await writeCase(dir, phantom, { naming });
      expect(paths.map((p) => p.split('/').pop()).sort()).toEqual(
        naming === '2021' ? ['P11_flair.nii.gz', 'P11_seg.nii.gz', 'P11_t1.nii.gz', 'P11_t1ce.nii.gz', 'P11_t2.nii.gz'] : ['P11-seg.nii.gz', 'P11-t1c.nii.gz', 'P11-t1n.nii.gz', 'P11-t2f.nii.gz', 'P11-t2w.nii.gz'],
      );
      const seg = await readNiftiFile(paths.find((p) => /seg/.test(p))!);
      const stored = new Set(seg.data);
      expect(stored.has(naming === '2021' ? 4 : 3)).toBe(true);
      expect(stored.has(naming === '2021' ? 3 : 4)).toBe(false);
      const c = await loadCase(dir);
      expect(c.id).toBe('P11');
      expect(c.naming).toBe(naming);
      expect(c.grid).toEqual(phantom.grid);
      c.images.forEach((img, i) => expect(Array.from(img)).toEqual(Array.from(phantom.images[i]!)));
      expect(Array.from(c.labels!)).toEqual(Array.from(phantom.labels!));
    }
    expect(await listCaseDirs(tmp)).toEqual([join(tmp, 'P11-2021'), join(tmp, 'P11-2023')]);
  });

  it('follows symbolic links: a data set of linked case folders, a case folder of linked files', async () => {
    const src = join(tmp, 'linked-src');
    const paths = await writeCase(join(src, 'P12'), phantom);
    const viaFiles = join(tmp, 'linked-files', 'P12');
    mkdirSync(viaFiles, { recursive: true });
    for (const p of paths) symlinkSync(p, join(viaFiles, basename(p)));
    const viaDirs = join(tmp, 'linked-dirs');
    mkdirSync(viaDirs);
    symlinkSync(join(src, 'P12'), join(viaDirs, 'P12'));
    symlinkSync(join(tmp, 'nowhere'), join(viaDirs, 'dangling'));
    for (const set of [join(tmp, 'linked-files'), viaDirs]) {
      expect(await listCaseDirs(set)).toEqual([join(set, 'P12')]);
      const c = await loadCase(join(set, 'P12'));
      expect(Array.from(c.labels!)).toEqual(Array.from(phantom.labels!));
    }
  });

  it('loads a case from in-memory files (the browser path)', () => {
    const files = encodeCaseFiles(phantom, { naming: '2023' });
    const c = loadCaseFromBuffers(files);
    expect(c.naming).toBe('2023');
    expect(Array.from(c.labels!)).toEqual(Array.from(phantom.labels!));
  });

  it('writes a predicted segmentation in the case convention on the case grid', async () => {
    const path = join(tmp, 'pred', 'P11_pred.nii.gz');
    await writeSegmentation(path, phantom.labels!, phantom);
    const v = await readNiftiFile(path);
    expect(v.grid).toEqual(phantom.grid);
    expect(Array.from(v.data)).toEqual(Array.from(labelsToBrats(phantom.labels!, '2021')));
  });

  it('a modality with another shape is an error naming both files', () => {
    const files = encodeCaseFiles(phantom);
    const small: NiftiGrid = { ...phantom.grid, dims: [24, 24, 23] };
    const i = files.findIndex((f) => f.name.endsWith('_t2.nii.gz'));
    files[i] = { name: files[i]!.name, bytes: encodeNifti(new Int16Array(24 * 24 * 23).fill(5), small, { datatype: 'int16' }) };
    expect(() => loadCaseFromBuffers(files)).toThrow('case P11: t2 image P11_t2.nii.gz has shape [24, 24, 23] but t1 image P11_t1.nii.gz has [24, 24, 24]');
  });

  it('a modality with another affine is an error naming both files', () => {
    const files = encodeCaseFiles(phantom);
    const moved: NiftiGrid = { ...phantom.grid, srow: [phantom.grid.srow[0], phantom.grid.srow[1], [0, 0, 1, 2.5]] };
    const i = files.findIndex((f) => f.name.endsWith('_seg.nii.gz'));
    files[i] = { name: files[i]!.name, bytes: encodeNifti(labelsToBrats(phantom.labels!, '2021'), moved, { datatype: 'uint8' }) };
    expect(() => loadCaseFromBuffers(files)).toThrow(/^case P11: seg image P11_seg\.nii\.gz has affine \[.*\] but t1 image P11_t1\.nii\.gz has \[.*\] \(largest difference 2\.50 > 0\.001\)/);
  });

  it('a truncated or corrupt file in a case folder is an error naming that file', async () => {
    const dir = join(tmp, 'broken');
    await writeCase(dir, phantom);
    const flair = join(dir, 'P11_flair.nii.gz');
    const bytes = readFileSync(flair);
    writeFileSync(flair, bytes.subarray(0, bytes.length >> 1));
    await expect(loadCase(dir)).rejects.toThrow(`${flair}: gzip stream is truncated or corrupt (zlib: unexpected end of file)`);
    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 6]! ^= 0x55; // inside the CRC-32 trailer
    writeFileSync(flair, corrupt);
    await expect(loadCase(dir)).rejects.toThrow(`${flair}: gzip stream is truncated or corrupt (zlib: incorrect data check)`);
    expect(readdirSync(dir)).toHaveLength(5);
  });

  it('NaN voxels in a case are refused by default', () => {
    const files = encodeCaseFiles(phantom, { imageDatatype: 'float32' });
    const i = files.findIndex((f) => f.name.endsWith('_t1ce.nii.gz'));
    const img = Float32Array.from(phantom.images[1]!);
    img[100] = NaN;
    files[i] = { name: files[i]!.name, bytes: encodeNifti(img, phantom.grid, { datatype: 'float32' }) };
    expect(() => loadCaseFromBuffers(files)).toThrow(/^P11_t1ce\.nii\.gz: 1 voxel is NaN or infinite \(first at voxel \[4, 4, 0\]\)/);
    expect(loadCaseFromBuffers(files, { nonFinite: 'zero' }).images[1]![100]).toBe(0);
  });
});
