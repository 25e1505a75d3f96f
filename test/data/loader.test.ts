import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writePhantomCase } from '../../src/data/case-files.node.js';
import { SameThreadLoader, buildBatch, loaderConfig, phantomCaseSeed, phantomProvider, type Batch, type LoaderConfig, type PhantomSourceSpec } from '../../src/data/loader.js';
import { createLoader } from '../../src/data/loader.node.js';

const tmp = mkdtempSync(join(tmpdir(), 'hnfnet-loader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SPEC: PhantomSourceSpec = { kind: 'phantom', count: 3, seed: 7, size: 32 };
const CONFIG: Partial<LoaderConfig> = { batchSize: 2, patchSize: [24, 20, 16], seed: 99 };

function same(a: Batch, b: Batch): boolean {
  return (
    a.step === b.step &&
    JSON.stringify([a.shape, a.caseIds, a.boxes, a.augment]) === JSON.stringify([b.shape, b.caseIds, b.boxes, b.augment]) &&
    Buffer.from(a.images.buffer, a.images.byteOffset, a.images.byteLength).equals(Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength)) &&
    Buffer.from(a.regions.buffer, a.regions.byteOffset, a.regions.byteLength).equals(Buffer.from(b.regions.buffer, b.regions.byteOffset, b.regions.byteLength))
  );
}

describe('batches', () => {
  it('have the documented NCDHW shapes, binary nested regions, and a zero background', async () => {
    const loader = new SameThreadLoader(phantomProvider(SPEC), CONFIG);
    const b = await loader.next();
    expect(b.shape).toEqual([2, 4, 16, 20, 24]);
    expect(b.images.length).toBe(2 * 4 * 16 * 20 * 24);
    expect(b.regions.length).toBe(2 * 3 * 16 * 20 * 24);
    const P = 16 * 20 * 24;
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < P; i++) {
        const wt = b.regions[(s * 3 + 0) * P + i]!;
        const tc = b.regions[(s * 3 + 1) * P + i]!;
        const et = b.regions[(s * 3 + 2) * P + i]!;
        if (!(wt === 0 || wt === 1) || tc > wt || et > tc) throw new Error(`sample ${s} voxel ${i}: regions ${wt}, ${tc}, ${et} are not nested masks`);
      }
    }
    expect(b.images.every(Number.isFinite)).toBe(true);
    expect(loader.stepsPerEpoch).toBe(2);
  });

  it('visit every case once per epoch, in a seeded order', async () => {
    const loader = new SameThreadLoader(phantomProvider(SPEC), { ...CONFIG, batchSize: 1, augment: null });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(...(await loader.next()).caseIds);
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    expect(new Set(ids.slice(3, 6)).size).toBe(3);
    expect(ids.slice(0, 3)).not.toEqual(ids.slice(3, 6));
  });

  it('are reproducible for a seed and change with it', async () => {
    const a = await buildBatch(phantomProvider(SPEC), loaderConfig(CONFIG), 3);
    const b = await new SameThreadLoader(phantomProvider(SPEC), CONFIG).batch(3);
    expect(same(a, b)).toBe(true);
    const c = await new SameThreadLoader(phantomProvider(SPEC), { ...CONFIG, seed: 100 }).batch(3);
    expect(same(a, c)).toBe(false);
    expect(phantomCaseSeed(7, 0)).not.toBe(phantomCaseSeed(7, 1));
  });

  it('centre every patch on tumour when foregroundProb is 1', async () => {
    const loader = new SameThreadLoader(phantomProvider(SPEC), { ...CONFIG, foregroundProb: 1, batchSize: 3 });
    const P = 16 * 20 * 24;
    for (let step = 0; step < 2; step++) {
      const b = await loader.next();
      for (let s = 0; s < 3; s++) expect(b.regions.subarray(s * 3 * P, s * 3 * P + P).some((v) => v === 1)).toBe(true);
    }
  });
});

describe('worker loader', () => {
  it('delivers the same batches as the same-thread loader, in order, with prefetch', async () => {
    const workers = createLoader(SPEC, CONFIG, { workers: 2, prefetch: 2 });
    const inline = createLoader(SPEC, CONFIG, { workers: 0 });
    try {
      for (let step = 0; step < 4; step++) {
        const [w, s] = await Promise.all([workers.next(), inline.next()]);
        expect(w.step).toBe(step);
        expect(same(w, s)).toBe(true);
      }
    } finally {
      await workers.close();
      await inline.close();
    }
    await expect(workers.next()).rejects.toThrow(/closed/);
  });

  it('reads case folders in the workers, and reports a broken folder as an error of that step', async () => {
    const dirs = [await writePhantomCase(tmp, { size: 24, seed: 1 }), await writePhantomCase(tmp, { size: 24, seed: 2 })];
    const config: Partial<LoaderConfig> = { batchSize: 2, patchSize: [16, 16, 16], seed: 1 };
    const w = createLoader({ kind: 'folders', dirs }, config, { workers: 1, prefetch: 1 });
    const s = createLoader({ kind: 'folders', dirs }, config, { workers: 0 });
    try {
      const [a, b] = await Promise.all([w.next(), s.next()]);
      expect(same(a, b)).toBe(true);
      expect(a.caseIds.sort()).toEqual(['phantom-1', 'phantom-2']);
    } finally {
      await w.close();
    }
    const bad = createLoader({ kind: 'folders', dirs: [join(tmp, 'missing')] }, config, { workers: 1 });
    try {
      await expect(bad.next()).rejects.toThrow(`${join(tmp, 'missing')}: cannot list folder (ENOENT)`);
    } finally {
      await bad.close();
    }
  });
});
