import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { qformAffine } from '../../src/data/affine.js';
import { gunzipChecked } from '../../src/data/gzip.js';
import { nodeGunzip } from '../../src/data/nifti-file.node.js';
import { readNifti, readNiftiBlob } from '../../src/data/nifti-read.js';
import { buildNifti, expectMatrixClose, RAW_CODES, voxelBytes, type RawType } from './helpers.js';

const DIMS = [3, 3, 2, 2];

function raw(type: RawType, values: number[], extra: Partial<Parameters<typeof buildNifti>[0]> = {}): Uint8Array {
  const le = extra.littleEndian ?? true;
  const [code, bytes] = RAW_CODES[type];
  return buildNifti({ dim: DIMS, datatype: code, bitpix: bytes * 8, data: voxelBytes(values, type, le), ...extra });
}

const SAMPLES: Record<RawType, number[]> = {
  uint8: [0, 1, 2, 3, 4, 128, 200, 255, 7, 8, 9, 10],
  int8: [-128, -1, 0, 1, 127, 5, -5, 3, 2, 1, 0, -7],
  int16: [-32768, -1, 0, 1, 32767, 1000, -1000, 3, 2, 1, 0, 12],
  uint16: [0, 1, 65535, 40000, 32768, 3, 4, 5, 6, 7, 8, 9],
  int32: [-2147483648, 2147483647, 0, 1, -1, 16777216, 3, 4, 5, 6, 7, 8],
  uint32: [0, 4294967295, 3000000000, 1, 2, 3, 4, 5, 6, 7, 8, 16777216],
  float32: [0, 0.5, -1.25, 3.4e38, -1e-30, 1, 2, 3, 4, 5, 6, 7.75],
  float64: [0, 0.1, -2.5, 1e10, 1e-300, 1, 2, 3, 4, 5, 6, 7],
  int64: [0, -1, 1, 2 ** 40, -(2 ** 40), 5, 6, 7, 8, 9, 10, 11],
  uint64: [0, 1, 2 ** 45, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

describe('readNifti: datatypes, byte order, scaling', () => {
  for (const type of Object.keys(SAMPLES) as RawType[]) {
    it(`reads ${type} (little- and big-endian) into float32, x fastest`, () => {
      const values = SAMPLES[type];
      for (const le of [true, false]) {
        const v = readNifti(raw(type, values, { littleEndian: le }), { name: `${type}.nii` });
        expect(v.header.datatype).toBe(type);
        expect(v.header.littleEndian).toBe(le);
        expect(v.dims).toEqual([3, 2, 2]);
        expect(Array.from(v.data)).toEqual(values.map((x) => Math.fround(x)));
      }
    });
  }

  it('applies scl_slope and scl_inter, and treats slope 0 as no scaling', () => {
    const values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const scaled = readNifti(raw('int16', values, { sclSlope: 0.5, sclInter: -3 }));
    expect(Array.from(scaled.data)).toEqual(values.map((x) => x * 0.5 - 3));
    expect(scaled.header.scaled).toBe(true);
    const none = readNifti(raw('int16', values, { sclSlope: 0, sclInter: 100 }));
    expect(Array.from(none.data)).toEqual(values);
    expect(none.header.scaled).toBe(false);
    const nan = readNifti(raw('int16', values, { sclSlope: NaN, sclInter: 5 }));
    expect(Array.from(nan.data)).toEqual(values);
  });

  it('reads gzip through fflate (with CRC check) and through zlib alike', () => {
    const file = gzipSync(raw('float32', SAMPLES.float32));
    const a = readNifti(file);
    const b = readNifti(file, { gunzip: nodeGunzip });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(gunzipChecked(file))).toEqual(Array.from(raw('float32', SAMPLES.float32)));
  });

  it('reads NIfTI-2', () => {
    const v = readNifti(
      buildNifti({
        version: 2,
        dim: DIMS,
        datatype: 16,
        bitpix: 32,
        pixdim: [1, 2, 3, 4, 1, 1, 1, 1],
        sformCode: 1,
        srow: [[2, 0, 0, -10], [0, 3, 0, -20], [0, 0, 4, -30]],
        data: voxelBytes(SAMPLES.float32, 'float32'),
      }),
      { name: 'v2.nii' },
    );
    expect(v.header.version).toBe(2);
    expect(v.header.voxOffset).toBe(544);
    expect(Array.from(v.data)).toEqual(SAMPLES.float32.map(Math.fround));
    expect(v.spacing).toEqual([2, 3, 4]);
    expectMatrixClose(v.affine, [[2, 0, 0, -10], [0, 3, 0, -20], [0, 0, 4, -30], [0, 0, 0, 1]]);
  });

  it('accepts a browser Blob/File', async () => {
    const file = new File([raw('uint8', SAMPLES.uint8).buffer as ArrayBuffer], 'blob.nii');
    const v = await readNiftiBlob(file);
    expect(v.name).toBe('blob.nii');
    expect(Array.from(v.data)).toEqual(SAMPLES.uint8);
  });
});

describe('readNifti: header extensions and vox_offset', () => {
  it('skips extensions and starts reading at vox_offset', () => {
    const ext = new Uint8Array(100).map((_, i) => (i * 7) & 255);
    const file = raw('int16', SAMPLES.int16, { extensions: [{ ecode: 4, data: ext }, { ecode: 6, data: new Uint8Array(10) }] });
    const v = readNifti(file, { name: 'ext.nii' });
    expect(v.header.voxOffset).toBe(352 + 112 + 32);
    expect(v.header.extensions).toEqual([
      { ecode: 4, esize: 112 },
      { ecode: 6, esize: 32 },
    ]);
    expect(Array.from(v.data)).toEqual(SAMPLES.int16);
    expect(v.warnings).toEqual([]);
  });

  it('honours a vox_offset beyond the extensions (padding)', () => {
    const v = readNifti(raw('uint8', SAMPLES.uint8, { voxOffset: 1024 }));
    expect(v.header.voxOffset).toBe(1024);
    expect(Array.from(v.data)).toEqual(SAMPLES.uint8);
  });

  it('reports a malformed extension chain but still reads from vox_offset', () => {
    const file = raw('uint8', SAMPLES.uint8, { extensions: [{ ecode: 4, data: new Uint8Array(24), esize: 20 }], voxOffset: 384 });
    const v = readNifti(file, { name: 'badext.nii' });
    expect(v.warnings.join(' ')).toMatch(/header extensions are malformed/);
    expect(v.header.extensions).toEqual([]);
    expect(Array.from(v.data)).toEqual(SAMPLES.uint8);
  });
});

describe('readNifti: affine precedence (sform, then qform, then pixdim)', () => {
  const srow = [[-2, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72]];
  // 90° about z; qfac −1 flips k.
  const s = Math.SQRT1_2;
  const quatern = [0, 0, s];
  const pixdim = [-1, 1.5, 2, 2.5, 1, 1, 1, 1];
  const qExpected = [
    [0, -2, 0, 10],
    [1.5, 0, 0, 20],
    [0, 0, -2.5, 30],
    [0, 0, 0, 1],
  ];

  it('uses the sform when sform_code > 0, even if qform_code is larger', () => {
    const v = readNifti(raw('uint8', SAMPLES.uint8, { qformCode: 2, sformCode: 1, quatern, qoffset: [10, 20, 30], pixdim, srow }));
    expectMatrixClose(v.affine, [...srow, [0, 0, 0, 1]]);
    expectMatrixClose(qformAffine(v.grid), qExpected, 1e-6);
  });

  it('uses the qform (quaternion, pixdim, qfac, offset) when only qform_code > 0', () => {
    const v = readNifti(raw('uint8', SAMPLES.uint8, { qformCode: 1, sformCode: 0, quatern, qoffset: [10, 20, 30], pixdim, srow }));
    expectMatrixClose(v.affine, qExpected, 1e-6);
  });

  it('falls back to pixdim scaling when both codes are 0', () => {
    const v = readNifti(raw('uint8', SAMPLES.uint8, { pixdim, srow }));
    expectMatrixClose(v.affine, [[1.5, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]]);
  });
});

describe('readNifti: bad input is an error naming the file and the problem', () => {
  const good = raw('int16', SAMPLES.int16);
  const gz = gzipSync(good);
  const bad = (bytes: Uint8Array, name = 'bad.nii.gz') => () => readNifti(bytes, { name });

  it('truncated gzip', () => {
    const cut = gz.subarray(0, gz.length - 10);
    expect(bad(cut)).toThrow(/^bad\.nii\.gz: gzip stream is truncated or corrupt/);
    expect(() => readNifti(cut, { name: 'bad.nii.gz', gunzip: nodeGunzip })).toThrow(/^bad\.nii\.gz: gzip stream is truncated or corrupt \(zlib: unexpected end of file\)/);
    expect(bad(gz.subarray(0, 5))).toThrow(/bad\.nii\.gz: gzip stream is truncated/);
  });

  it('corrupt gzip (bit flips that inflate "successfully" are caught by the CRC)', () => {
    const big = gzipSync(raw('float32', Array.from({ length: 12 }, (_, i) => i * 1.5)), { level: 0 });
    const flipped = big.slice();
    flipped[flipped.length - 20]! ^= 0xff; // inside the stored block's voxel bytes
    expect(bad(flipped)).toThrow(/^bad\.nii\.gz: gzip stream is corrupt \(CRC-32 of the inflated data is 0x[0-9a-f]{8}, trailer says 0x[0-9a-f]{8}\)/);
    expect(() => readNifti(flipped, { name: 'bad.nii.gz', gunzip: nodeGunzip })).toThrow(/^bad\.nii\.gz: gzip stream is truncated or corrupt \(zlib: incorrect data check\)/);
  });

  it('a file shorter than its header says', () => {
    expect(bad(good.subarray(0, good.length - 3), 'short.nii')).toThrow(
      'short.nii: file is truncated: the header promises 24 bytes of int16 voxels (dims [3, 2, 2]) from byte 352, but the data ends at byte 373 (3 bytes short)',
    );
    expect(bad(gzipSync(good.subarray(0, 360)), 'short.nii.gz')).toThrow(/short\.nii\.gz: file is truncated: .* the decompressed data ends at byte 360 \(16 bytes short\)/);
    expect(bad(good.subarray(0, 200), 'stub.nii')).toThrow('stub.nii: file is truncated: 200 bytes, shorter than the 348-byte NIfTI-1 header');
  });

  it('unknown and unsupported datatypes', () => {
    expect(bad(buildNifti({ dim: DIMS, datatype: 9999, bitpix: 16, data: new Uint8Array(24) }), 'dt.nii')).toThrow(/^dt\.nii: unknown datatype code 9999 \(supported: uint8, int16/);
    expect(bad(buildNifti({ dim: DIMS, datatype: 128, bitpix: 24, data: new Uint8Array(36) }), 'rgb.nii')).toThrow(/^rgb\.nii: datatype rgb24 \(code 128\) is not supported/);
  });

  it('dims of 0, bad dim[0], 4D data', () => {
    expect(bad(buildNifti({ dim: [3, 4, 0, 2], datatype: 2, bitpix: 8, data: new Uint8Array(0) }), 'zero.nii')).toThrow('zero.nii: dim[2] is 0: every dimension must be at least 1 (dims [4, 0, 2])');
    expect(bad(buildNifti({ dim: [0, 4, 4, 4], datatype: 2, bitpix: 8, data: new Uint8Array(64) }), 'd0.nii')).toThrow(/^d0\.nii: dim\[0\] is 0; it must be 1 to 7/);
    expect(bad(buildNifti({ dim: [4, 2, 2, 2, 3], datatype: 2, bitpix: 8, data: new Uint8Array(24) }), '4d.nii')).toThrow(/^4d\.nii: has 3 entries along dim\[4\] .*only 3D volumes are supported/);
  });

  it('not NIfTI at all, a .hdr header, a bad magic, a fractional vox_offset', () => {
    expect(bad(new TextEncoder().encode('hello, this is not an image'), 'text.nii')).toThrow(/^text\.nii: not a NIfTI file: sizeof_hdr is \d+ \(expected 348 for NIfTI-1 or 540 for NIfTI-2\)/);
    expect(bad(new Uint8Array(2), 'tiny.nii')).toThrow('tiny.nii: only 2 bytes: too short to be a NIfTI file');
    expect(bad(raw('uint8', SAMPLES.uint8, { magic: 'ni1\0' }), 'pair.hdr')).toThrow(/^pair\.hdr: is the header of a \.hdr\/\.img pair/);
    expect(bad(raw('uint8', SAMPLES.uint8, { magic: 'xyz\0' }), 'magic.nii')).toThrow(/^magic\.nii: bad NIfTI-1 magic "xyz" at byte 344/);
    expect(bad(raw('uint8', SAMPLES.uint8, { voxOffset: 352.5 }), 'frac.nii')).toThrow(/^frac\.nii: vox_offset 352\.5 is not a whole/);
  });

  it('NaN and Inf voxels: counted and warned by default, zeroed or refused on request', () => {
    const values = [0, 1, NaN, 3, Infinity, 5, 6, -Infinity, 8, 9, 10, NaN];
    const file = raw('float32', values);
    const warn = readNifti(file, { name: 'nan.nii' });
    expect(warn.nonFinite).toBe(4);
    expect(warn.warnings).toEqual(['4 voxels are NaN or infinite (first at voxel [2, 0, 0])']);
    expect(Number.isNaN(warn.data[2])).toBe(true);
    const zero = readNifti(file, { name: 'nan.nii', nonFinite: 'zero' });
    expect(Array.from(zero.data)).toEqual(values.map((v) => (Number.isFinite(v) ? v : 0)));
    expect(zero.warnings[0]).toMatch(/replaced with 0$/);
    expect(() => readNifti(file, { name: 'nan.nii', nonFinite: 'error' })).toThrow('nan.nii: 4 voxels are NaN or infinite (first at voxel [2, 0, 0])');
    // Scaling can overflow float32 too.
    const over = readNifti(raw('float64', [1e300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), { name: 'big.nii' });
    expect(over.nonFinite).toBe(1);
  });
});

describe('gzip members', () => {
  it('multi-member gzip (bgzip) reads in Node, and is refused, not misread, by the browser path', () => {
    const file = raw('int16', SAMPLES.int16);
    const two = new Uint8Array([...gzipSync(file.subarray(0, 100)), ...gzipSync(file.subarray(100))]);
    expect(Array.from(readNifti(two, { gunzip: nodeGunzip }).data)).toEqual(SAMPLES.int16);
    expect(() => readNifti(two, { name: 'bgzip.nii.gz' })).toThrow(/^bgzip\.nii\.gz: gzip stream is (truncated or )?corrupt .*several gzip members \(as bgzip writes\), which only the Node reader supports/);
  });
});

describe('the browser reader bounds inflation by the header, as the Node reader does', () => {
  const header = (dim: number[]) => buildNifti({ dim, datatype: 2, bitpix: 8, data: new Uint8Array(dim.slice(1, 4).reduce((a, b) => a * b, 1)) });

  it('a small gzip that inflates far beyond what its header needs is refused, naming the file and the limit', () => {
    const file = header([3, 4, 4, 4]);
    // 64 MiB of zeros after a 416-byte file: ~64 KiB compressed.
    const bomb = gzipSync(new Uint8Array([...file, ...new Uint8Array(64 << 20)]));
    expect(bomb.length).toBeLessThan(1 << 20);
    const want = /^bomb\.nii\.gz: gzip stream inflates to more than the 416 bytes its NIfTI header needs \(damaged, or a decompression bomb\); not read further$/;
    expect(() => readNifti(bomb, { name: 'bomb.nii.gz' })).toThrow(want);
    expect(() => readNifti(bomb, { name: 'bomb.nii.gz', gunzip: nodeGunzip })).toThrow(want);
    // Within the slack (1 MiB) it reads: writers may pad.
    expect(readNifti(gzipSync(new Uint8Array([...file, ...new Uint8Array(1000)])), { name: 'pad.nii.gz' }).dims).toEqual([4, 4, 4]);
  });

  it('a file larger than the head and the inflation steps reads exactly; a bound applies to plain gzip too', () => {
    const dims = [3, 120, 100, 30];
    // An LCG's high bytes: incompressible enough that the stream spans many inflation steps.
    let x = 1;
    const data = Uint8Array.from({ length: 120 * 100 * 30 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
    const file = buildNifti({ dim: dims, datatype: 2, bitpix: 8, data });
    const gz = gzipSync(file);
    expect(gz.length).toBeGreaterThan(3 * 16 * 1024);
    expect(Array.from(gunzipChecked(gz))).toEqual(Array.from(file));
    const v = readNifti(gz, { name: 'big.nii.gz' });
    expect(v.dims).toEqual([120, 100, 30]);
    expect(v.data.every((x, i) => x === data[i])).toBe(true);
    const bound = { maxBytes: 1000, message: 'too big for 1000 bytes' };
    expect(() => gunzipChecked(gz, { bound: () => bound, headBytes: 10 })).toThrow('too big for 1000 bytes');
    expect(gunzipChecked(gz, { bound: () => null }).length).toBe(file.length);
  });
});
