import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, extractPatch, sampleAugment } from '../../src/data/augment.js';
import { MODALITIES, type BratsCase } from '../../src/data/brats-case.js';
import { loadCase } from '../../src/data/case-files.node.js';
import { randomBox, uncropVolume } from '../../src/data/crop.js';
import { normalizeInBrain, preprocessCase } from '../../src/data/preprocess.js';
import { Rng } from '../../src/data/rng.js';
import { CASE_IDS, HAVE_SHARED, SKIP_REASON, caseDir, loadFacts } from './helpers.js';

/** numpy.percentile(a, q) ('linear'), computed the plain way: sort, then interpolate. */
function numpyPercentile(sorted: Float64Array, q: number): number {
  const pos = (q / 100) * (sorted.length - 1);
  const i = Math.floor(pos);
  const t = pos - i;
  if (i + 1 >= sorted.length) return sorted[i]!;
  const a = sorted[i]!;
  const b = sorted[i + 1]!;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

describe('normalizeInBrain (synthetic)', () => {
  it('clips to the percentiles of the masked voxels, z-scores them, zeroes the rest', () => {
    const img = Float32Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 0 : i));
    img[1] = 1e6; // an outlier the clip removes
    const mask = Uint8Array.from(img, (v) => (v !== 0 ? 1 : 0));
    const out = new Float32Array(1000);
    const s = normalizeInBrain(img, mask, {}, out);
    const vals = Float64Array.from(img.filter((_, i) => mask[i])).sort();
    expect(s.low).toBe(numpyPercentile(vals, 0.5));
    expect(s.high).toBe(numpyPercentile(vals, 99.5));
    expect(s.count).toBe(900);
    let m = 0;
    let m2 = 0;
    for (let i = 0; i < 1000; i++) if (mask[i]) (m += out[i]!), (m2 += out[i]! * out[i]!);
    expect(m / 900).toBeCloseTo(0, 5);
    expect(Math.sqrt(m2 / 900)).toBeCloseTo(1, 5);
    for (let i = 0; i < 1000; i += 10) expect(out[i]).toBe(0);
    expect(out[1]).toBeCloseTo((s.high - s.mean) / s.std, 5);
  });
});

describe.skipIf(!HAVE_SHARED)(`preprocessing real cases ${HAVE_SHARED ? '' : `(${SKIP_REASON})`}`, () => {
  const cases = new Map<string, Promise<BratsCase>>();
  const load = (id: (typeof CASE_IDS)[number]) => {
    let c = cases.get(id);
    if (!c) cases.set(id, (c = loadCase(caseDir(id))));
    return c;
  };

  it('Brats18_TCIA10_628_1 matches an independent computation (percentiles = facts.json, mean 0 / std 1 over the brain)', async () => {
    const id = 'Brats18_TCIA10_628_1';
    const facts = loadFacts(id);
    const c = await load(id);
    const p = preprocessCase(c);
    expect(p.fullDims).toEqual([240, 240, 155]);
    expect(p.box.start).toEqual(facts.brain_union_bbox_voxel_index_min_inclusive);
    const N = 240 * 240 * 155;
    const brain = new Uint8Array(N);
    for (const img of c.images) for (let i = 0; i < N; i++) if (img[i] !== 0) brain[i] = 1;
    expect(Buffer.from(uncropVolume(p.mask, p.box, p.fullDims)).equals(Buffer.from(brain))).toBe(true);
    const n = p.dims[0] * p.dims[1] * p.dims[2];
    MODALITIES.forEach((m, ch) => {
      const raw = c.images[ch]!;
      const vals = new Float64Array(facts.brain_union_nonzero_voxels);
      let k = 0;
      for (let i = 0; i < N; i++) if (brain[i]) vals[k++] = raw[i]!;
      vals.sort();
      const lo = numpyPercentile(vals, 0.5);
      const hi = numpyPercentile(vals, 99.5);
      // In this case every modality is nonzero on exactly the brain, so facts' nonzero percentiles are the brain's.
      expect([lo, hi]).toEqual([facts.modalities[m].nonzero_p0_5_linear, facts.modalities[m].nonzero_p99_5_linear]);
      expect([p.stats[ch]!.low, p.stats[ch]!.high]).toEqual([lo, hi]);
      let sum = 0;
      for (let i = 0; i < vals.length; i++) sum += Math.min(hi, Math.max(lo, vals[i]!));
      const mean = sum / vals.length;
      let ss = 0;
      for (let i = 0; i < vals.length; i++) ss += (Math.min(hi, Math.max(lo, vals[i]!)) - mean) ** 2;
      const std = Math.sqrt(ss / vals.length);
      expect(p.stats[ch]!.mean).toBeCloseTo(mean, 8);
      expect(p.stats[ch]!.std).toBeCloseTo(std, 8);
      const full = uncropVolume(p.images.subarray(ch * n, (ch + 1) * n), p.box, p.fullDims);
      let om = 0;
      let om2 = 0;
      let worst = 0;
      for (let i = 0; i < N; i++) {
        if (!brain[i]) {
          if (full[i] !== 0) throw new Error(`${m}: background voxel ${i} is ${full[i]}`);
          continue;
        }
        const v = full[i]!;
        om += v;
        om2 += v * v;
        worst = Math.max(worst, Math.abs(v - (Math.min(hi, Math.max(lo, raw[i]!)) - mean) / std));
      }
      const cnt = vals.length;
      expect(Math.abs(om / cnt)).toBeLessThan(1e-5);
      expect(Math.sqrt(om2 / cnt - (om / cnt) ** 2)).toBeCloseTo(1, 5);
      expect(worst).toBeLessThan(1e-5);
    });
    // Labels and the foreground index lists follow the crop.
    const counts = p.foreground.map((f) => f.length);
    expect(counts).toEqual([103582, 51717, 1976]);
    expect(p.foreground[2]!.every((i) => p.labels![i] === 3)).toBe(true);
  });

  it('Brats18_TCIA01_378_1: brain statistics after preprocessing are mean 0, std 1 in every channel', async () => {
    const p = preprocessCase(await load('Brats18_TCIA01_378_1'));
    const n = p.dims[0] * p.dims[1] * p.dims[2];
    for (let ch = 0; ch < 4; ch++) {
      let s = 0;
      let s2 = 0;
      let cnt = 0;
      for (let i = 0; i < n; i++) {
        if (!p.mask[i]) continue;
        const v = p.images[ch * n + i]!;
        s += v;
        s2 += v * v;
        cnt++;
      }
      expect(cnt).toBe(1467147);
      expect(Math.abs(s / cnt)).toBeLessThan(1e-5);
      expect(Math.sqrt(s2 / cnt - (s / cnt) ** 2)).toBeCloseTo(1, 5);
    }
  });

  it('timing: read + preprocess + one augmented 128³ crop of a real case', async () => {
    const t0 = performance.now();
    const c = await loadCase(caseDir('Brats18_TCIA01_378_1'));
    const t1 = performance.now();
    const p = preprocessCase(c);
    const t2 = performance.now();
    const rng = new Rng(1);
    const box = randomBox(p.dims, [128, 128, 128], rng, { foreground: p.foreground, foregroundProb: 1 });
    const params = sampleAugment(rng, { ...DEFAULT_AUGMENT, rotate: { prob: 1, maxDegrees: 10 } }, 4);
    const patch = extractPatch({ images: p.images, channels: 4, dims: p.dims, mask: p.mask, labels: p.labels }, box, params);
    const t3 = performance.now();
    expect(patch.images.length).toBe(4 * 128 ** 3);
    const ms = (a: number, b: number) => `${(b - a).toFixed(0)} ms`;
    console.log(`[timing] read ${ms(t0, t1)}, preprocess ${ms(t1, t2)}, augmented 128³ crop ${ms(t2, t3)}, total ${ms(t0, t3)}`);
    expect(t3 - t0).toBeLessThan(60_000);
  });
});
