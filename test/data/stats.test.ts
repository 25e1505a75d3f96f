import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { histogramMoments, histogramPercentiles, integerHistogram, moments, percentiles, selectKth, valueCounts } from '../../src/data/stats.js';

/** The textbook definition, for reference: sort, then numpy's 'linear' interpolation. */
function sortedPercentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  const pos = (q / 100) * (s.length - 1);
  const i = Math.floor(pos);
  const t = pos - i;
  if (i + 1 >= s.length) return s[i]!;
  return s[i]! + (s[i + 1]! - s[i]!) * t;
}

describe('order statistics and moments', () => {
  it('selectKth finds every order statistic, duplicates included', () => {
    const rng = new Rng(3);
    const vals = Float32Array.from({ length: 501 }, () => rng.int(0, 20));
    const sorted = Float64Array.from(vals).sort();
    for (const k of [0, 1, 17, 250, 499, 500]) expect(selectKth(Float32Array.from(vals), k)).toBe(sorted[k]);
  });

  it('percentiles (selection) and histogramPercentiles (counting) agree with the sorted definition', () => {
    const rng = new Rng(9);
    for (const n of [1, 2, 7, 1000, 12345]) {
      const vals = Float32Array.from({ length: n }, () => rng.int(-300, 3000));
      const qs = [0, 0.5, 25, 50, 99.5, 100];
      const expected = qs.map((q) => sortedPercentile(vals, q));
      const sel = percentiles(Float32Array.from(vals), qs);
      const hist = histogramPercentiles(integerHistogram(vals)!, qs);
      sel.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 9));
      expect(hist).toEqual(sel);
    }
    const floats = Float32Array.from({ length: 999 }, (_, i) => Math.fround(Math.sin(i)));
    expect(integerHistogram(floats)).toBeNull();
    percentiles(Float32Array.from(floats), [0.5, 99.5]).forEach((v, i) => expect(v).toBeCloseTo(sortedPercentile(floats, [0.5, 99.5][i]!), 9));
  });

  it('moments: population std; histogram moments with clipping equal clipped moments', () => {
    const m = moments(Float32Array.from([1, 2, 3, 4]));
    expect(m).toEqual({ count: 4, min: 1, max: 4, mean: 2.5, std: Math.sqrt(1.25) });
    const rng = new Rng(4);
    const vals = Float32Array.from({ length: 5000 }, () => rng.int(0, 100));
    const h = histogramMoments(integerHistogram(vals)!, 10, 90);
    const c = moments(Float32Array.from(vals, (v) => Math.min(90, Math.max(10, v))));
    expect(h.mean).toBeCloseTo(c.mean, 10);
    expect(h.std).toBeCloseTo(c.std, 10);
    expect([h.min, h.max, h.count]).toEqual([c.min, c.max, c.count]);
    expect(integerHistogram(Float32Array.from([0, 0, 3, -2]), null, true)!.n).toBe(2);
  });

  it('valueCounts counts distinct values, and gives up past the limit', () => {
    expect([...valueCounts([4, 0, 0, 2, 4, 0])!]).toEqual([[0, 3], [2, 1], [4, 2]]);
    expect([...valueCounts([0.5, 0.5, -1e6, 1])!]).toEqual([[-1e6, 1], [0.5, 2], [1, 1]]);
    expect(valueCounts(Array.from({ length: 40 }, (_, i) => i), 32)).toBeNull();
    expect(valueCounts(Array.from({ length: 40 }, (_, i) => i + 0.5), 32)).toBeNull();
  });
});
