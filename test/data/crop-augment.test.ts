import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, augmentConfig, extractPatch, identityAugment, rotationMatrix, sampleAugment, type AugmentParams } from '../../src/data/augment.js';
import { bboxOfMask, centerBox, cropVolume, randomBox, uncropVolume } from '../../src/data/crop.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { preprocessCase } from '../../src/data/preprocess.js';
import { Rng } from '../../src/data/rng.js';
import type { Dims3 } from '../../src/data/volume.js';

const idx = (d: Dims3, x: number, y: number, z: number) => x + d[0] * (y + d[1] * z);

describe('boxes and crops', () => {
  const dims: Dims3 = [5, 4, 3];
  const vol = Float32Array.from({ length: 60 }, (_, i) => i + 1);

  it('bboxOfMask finds the tight box (with margin, clipped)', () => {
    const mask = new Uint8Array(60);
    mask[idx(dims, 1, 2, 1)] = 1;
    mask[idx(dims, 3, 1, 2)] = 1;
    expect(bboxOfMask(mask, dims)).toEqual({ start: [1, 1, 1], size: [3, 2, 2] });
    expect(bboxOfMask(mask, dims, 1)).toEqual({ start: [0, 0, 0], size: [5, 4, 3] });
    expect(bboxOfMask(new Uint8Array(60), dims)).toBeNull();
  });

  it('crops with padding outside the volume and uncrops back', () => {
    const box = { start: [-1, 2, 1] as Dims3, size: [3, 3, 2] as Dims3 };
    const c = cropVolume(vol, dims, box, 1, -7);
    expect(c).toBeInstanceOf(Float32Array);
    // Row y = 2 (in volume), z = 1: x = −1 is padding, then voxels x = 0, 1.
    expect(Array.from(c.subarray(0, 3))).toEqual([-7, vol[idx(dims, 0, 2, 1)], vol[idx(dims, 1, 2, 1)]]);
    // y = 4 is outside (dims[1] = 4): padding.
    expect(Array.from(c.subarray(6, 9))).toEqual([-7, -7, -7]);
    const back = uncropVolume(c, box, dims, 1, 0);
    for (let z = 0; z < 3; z++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 5; x++) {
          const inside = x <= 1 && y >= 2 && z >= 1;
          expect(back[idx(dims, x, y, z)]).toBe(inside ? vol[idx(dims, x, y, z)] : 0);
        }
    const two = Uint8Array.from({ length: 120 }, (_, i) => i);
    const c2 = cropVolume(two, dims, { start: [1, 1, 1], size: [2, 2, 2] }, 2);
    expect(c2).toBeInstanceOf(Uint8Array);
    expect(c2[8]).toBe(60 + idx(dims, 1, 1, 1));
    expect(Array.from(uncropVolume(cropVolume(vol, dims, centerBox(dims, [9, 9, 9])), centerBox(dims, [9, 9, 9]), dims))).toEqual(Array.from(vol));
  });

  it('centre and random boxes: inside where the volume is large enough, padded where it is not', () => {
    expect(centerBox([240, 240, 155], [128, 128, 128])).toEqual({ start: [56, 56, 13], size: [128, 128, 128] });
    expect(centerBox([100, 100, 100], [128, 128, 128]).start).toEqual([-14, -14, -14]);
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) {
      const b = randomBox([150, 170, 100], [128, 128, 128], rng);
      expect(b.start[0]).toBeGreaterThanOrEqual(0);
      expect(b.start[0] + 128).toBeLessThanOrEqual(150);
      expect(b.start[1] + 128).toBeLessThanOrEqual(170);
      expect(b.start[2]).toBeLessThanOrEqual(0);
      expect(b.start[2]).toBeGreaterThanOrEqual(-28);
    }
  });

  it('tumour-centred boxes contain the chosen foreground voxel', () => {
    const dims2: Dims3 = [100, 90, 80];
    const fg = [Uint32Array.of(idx(dims2, 3, 80, 40)), new Uint32Array(0), Uint32Array.of(idx(dims2, 97, 2, 79))];
    const rng = new Rng(2);
    let hits = 0;
    for (let i = 0; i < 100; i++) {
      const b = randomBox(dims2, [32, 32, 32], rng, { foreground: fg, foregroundProb: 1 });
      const inside = (x: number, y: number, z: number) => [x, y, z].every((v, a) => v >= b.start[a]! && v < b.start[a]! + 32);
      expect(inside(3, 80, 40) || inside(97, 2, 79)).toBe(true);
      expect(b.start.every((s, a) => s >= 0 && s + 32 <= dims2[a]!)).toBe(true);
      if (inside(97, 2, 79)) hits++;
    }
    // Non-empty classes are equally likely.
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(70);
  });
});

describe('augmentation parameters', () => {
  it('are reproducible from the generator and respect ranges and probabilities', () => {
    const a = sampleAugment(new Rng(5), DEFAULT_AUGMENT, 4);
    expect(sampleAugment(new Rng(5), DEFAULT_AUGMENT, 4)).toEqual(a);
    const rng = new Rng(6);
    let flips = 0;
    let rots = 0;
    for (let i = 0; i < 500; i++) {
      const p = sampleAugment(rng, DEFAULT_AUGMENT, 4);
      flips += p.flip.filter(Boolean).length;
      rots += p.rotationDeg.filter((d) => d !== 0).length;
      for (const d of p.rotationDeg) expect(Math.abs(d)).toBeLessThanOrEqual(10);
      for (const s of p.scale) expect(s >= 0.9 && s <= 1.1).toBe(true);
      for (const t of p.shift) expect(Math.abs(t)).toBeLessThanOrEqual(0.1);
    }
    expect(flips / 1500).toBeGreaterThan(0.45);
    expect(flips / 1500).toBeLessThan(0.55);
    expect(rots / 1500).toBeGreaterThan(0.45);
    expect(rots / 1500).toBeLessThan(0.55);
    const none = augmentConfig({ flip: { prob: 0 }, rotate: { prob: 0 }, intensityShift: { prob: 0 }, intensityScale: { prob: 0 } });
    expect(sampleAugment(new Rng(7), none, 3)).toEqual(identityAugment(3));
    expect(augmentConfig({ rotate: { maxDegrees: 20 } }).rotate).toEqual({ prob: 0.5, maxDegrees: 20 });
  });

  it('rotationMatrix is a proper rotation (Rz·Ry·Rx)', () => {
    const r = rotationMatrix([0, 0, 90]);
    expect(r.map((v) => Math.round(v * 1e12) / 1e12 + 0)).toEqual([0, -1, 0, 1, 0, 0, 0, 0, 1]);
    const m = rotationMatrix([7, -4, 9]);
    const det = m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) - m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) + m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
    expect(det).toBeCloseTo(1, 12);
  });
});

describe('extractPatch', () => {
  const dims: Dims3 = [6, 5, 4];
  const n = 120;
  const images = Float32Array.from({ length: 2 * n }, (_, i) => (i % n) + 1 + (i >= n ? 1000 : 0));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
  const src = { images, channels: 2, dims, mask: null, labels };
  const box = { start: [1, 1, 0] as Dims3, size: [4, 3, 4] as Dims3 };

  it('without rotation is an exact crop; flips mirror it', () => {
    const plain = extractPatch(src, box, identityAugment(2));
    expect(Array.from(plain.images.subarray(0, 48))).toEqual(Array.from(cropVolume(images.subarray(0, n), dims, box)));
    expect(Array.from(plain.labels!)).toEqual(Array.from(cropVolume(labels, dims, box)));
    const p: AugmentParams = { ...identityAugment(2), flip: [true, false, true] };
    const f = extractPatch(src, box, p);
    for (let z = 0; z < 4; z++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 4; x++) {
          const o = x + 4 * (y + 3 * z);
          const m = 3 - x + 4 * (y + 3 * (3 - z));
          expect(f.images[48 + o]).toBe(plain.images[48 + m]);
          expect(f.labels![o]).toBe(plain.labels![m]);
        }
  });

  it('rotates content about the patch centre: 90° about z maps (dx, dy) to (−dy, dx)', () => {
    const sq = { start: [1, 1, 0] as Dims3, size: [3, 3, 4] as Dims3 };
    const p: AugmentParams = { ...identityAugment(2), rotationDeg: [0, 0, 90] };
    const r = extractPatch(src, sq, p);
    const plain = extractPatch(src, sq, identityAugment(2));
    for (let z = 0; z < 4; z++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 3; x++) {
          // Content rotated by R: the output at d samples the input at Rᵀ·d.
          const dx = x - 1;
          const dy = y - 1;
          const sx = 1 + dy;
          const sy = 1 - dx;
          const o = x + 3 * (y + 3 * z);
          const s = sx + 3 * (sy + 3 * z);
          expect(r.images[o]).toBeCloseTo(plain.images[s]!, 4);
          expect(r.labels![o]).toBe(plain.labels![s]);
        }
  });

  it('rotated patches equal a reference trilinear sampler, inside and at the volume border', () => {
    const d: Dims3 = [9, 8, 7];
    const N = 9 * 8 * 7;
    const rng = new Rng(8);
    const vol = Float32Array.from({ length: 2 * N }, () => rng.uniform(-1, 1));
    const at = (c: number, x: number, y: number, z: number) => (x < 0 || y < 0 || z < 0 || x >= 9 || y >= 8 || z >= 7 ? 0 : vol[c * N + idx(d, x, y, z)]!);
    const box = { start: [-1, 0, 1] as Dims3, size: [8, 8, 6] as Dims3 };
    const p: AugmentParams = { flip: [false, true, false], rotationDeg: [5, -12, 17], scale: [1, 1], shift: [0, 0] };
    const out = extractPatch({ images: vol, channels: 2, dims: d, mask: null, labels: null }, box, p);
    const R = rotationMatrix(p.rotationDeg);
    const c = box.size.map((s) => (s - 1) / 2);
    let checked = 0;
    for (let z = 0; z < 6; z++)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) {
          const q = [x - c[0]!, 7 - y - c[1]!, z - c[2]!];
          // Rᵀ·q, then back to source coordinates.
          const s = [0, 1, 2].map((i) => box.start[i]! + c[i]! + R[i]! * q[0]! + R[3 + i]! * q[1]! + R[6 + i]! * q[2]!);
          const n = s.map(Math.round);
          const o = x + 8 * (y + 8 * z);
          if (n[0]! < 0 || n[1]! < 0 || n[2]! < 0 || n[0]! >= 9 || n[1]! >= 8 || n[2]! >= 7) {
            expect(out.images[o]).toBe(0);
            continue;
          }
          const f = s.map(Math.floor);
          const t = s.map((v, i) => v - f[i]!);
          for (let ch = 0; ch < 2; ch++) {
            let v = 0;
            for (let k = 0; k < 8; k++) {
              const [a, b, e] = [k & 1, (k >> 1) & 1, (k >> 2) & 1];
              v += (a ? t[0]! : 1 - t[0]!) * (b ? t[1]! : 1 - t[1]!) * (e ? t[2]! : 1 - t[2]!) * at(ch, f[0]! + a, f[1]! + b, f[2]! + e);
            }
            expect(out.images[ch * 384 + o]).toBeCloseTo(v, 5);
          }
          checked++;
        }
    expect(checked).toBeGreaterThan(250);
  });

  it('applies intensity scale and shift per channel inside the brain only; background stays exactly 0', () => {
    const mask = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const p: AugmentParams = { ...identityAugment(2), scale: [2, 0.5], shift: [0.25, -1] };
    const out = extractPatch({ ...src, mask }, { start: [0, 0, 0], size: dims }, p);
    for (let i = 0; i < n; i++) {
      expect(out.images[i]).toBe(mask[i] ? images[i]! * 2 + 0.25 : 0);
      expect(out.images[n + i]).toBe(mask[i] ? images[n + i]! * 0.5 - 1 : 0);
    }
  });

  it('writes into a batch slot', () => {
    const target = new Float32Array(3 * 2 * 48).fill(NaN);
    extractPatch(src, box, identityAugment(2), { images: target, imageOffset: 96, labels: new Uint8Array(48) });
    expect(target.subarray(0, 96).every(Number.isNaN)).toBe(true);
    expect(Array.from(target.subarray(96, 144))).toEqual(Array.from(cropVolume(images.subarray(0, n), dims, box)));
  });
});

describe('augmentation keeps image and labels aligned (rotated phantom)', () => {
  it('the tumour seen in the rotated FLAIR overlaps the rotated labels (Dice > 0.9), and misalignment is detected', () => {
    const p = preprocessCase(generatePhantom({ size: 64, seed: 21 }));
    const src = { images: p.images, channels: 4, dims: p.dims, mask: p.mask, labels: p.labels };
    const N = p.dims[0] * p.dims[1] * p.dims[2];
    const flair = p.images.subarray(3 * N, 4 * N);
    // Threshold halfway between mean FLAIR in the whole tumour and in the rest of the brain.
    let inS = 0, inN = 0, outS = 0, outN = 0;
    for (let i = 0; i < N; i++) {
      if (!p.mask[i]) continue;
      if (p.labels![i]! > 0) (inS += flair[i]!), inN++;
      else (outS += flair[i]!), outN++;
    }
    const thr = (inS / inN + outS / outN) / 2;
    const dice = (img: Float32Array, lab: Uint8Array, P: number) => {
      let a = 0, b = 0, both = 0;
      for (let i = 0; i < P; i++) {
        const x = img[3 * P + i]! > thr;
        const y = lab[i]! > 0;
        a += +x;
        b += +y;
        both += +(x && y);
      }
      return (2 * both) / (a + b);
    };
    // Off-centre tumour, so that rotations about the patch centre move it by several voxels.
    const tb = bboxOfMask(p.labels!, p.dims)!;
    const box = { start: tb.start.map((s, a) => Math.round(s + tb.size[a]! / 2) - 12) as Dims3, size: [48, 48, 48] as Dims3 };
    const P = 48 ** 3;
    const rotated: AugmentParams = { flip: [false, false, false], rotationDeg: [10, -8, 9], scale: [1, 1, 1, 1], shift: [0, 0, 0, 0] };
    const both: AugmentParams = { ...rotated, flip: [true, false, true] };
    const straight = extractPatch(src, box, identityAugment(4));
    const r = extractPatch(src, box, rotated);
    const rf = extractPatch(src, box, both);
    const dStraight = dice(straight.images, straight.labels!, P);
    const dRot = dice(r.images, r.labels!, P);
    const dBoth = dice(rf.images, rf.labels!, P);
    // Sensitivity: labels that missed the rotation, or the flips, do not fit the image.
    const missedRotation = dice(r.images, straight.labels!, P);
    const missedFlips = dice(rf.images, r.labels!, P);
    console.log(`[dice] straight ${dStraight.toFixed(3)}, rotated ${dRot.toFixed(3)}, rotated+flipped ${dBoth.toFixed(3)}; labels missing the rotation ${missedRotation.toFixed(3)}, the flips ${missedFlips.toFixed(3)}`);
    expect(dStraight).toBeGreaterThan(0.9);
    expect(dRot).toBeGreaterThan(0.9);
    expect(dBoth).toBeGreaterThan(0.9);
    expect(missedRotation).toBeLessThan(dRot - 0.1);
    expect(missedFlips).toBeLessThan(0.5);
  });
});
