/**
 * The tuner's own machinery on synthetic requests (no kernels compiled): keys, the cache and
 * its store, the modes, the budgets. tuner-conv3d.test.ts runs it on real conv3d passes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileTuneStore, keyString, MemoryStore, roundPow2, shapeClass, tuneCachePath, TuneCache, Tuner, type Device, type TuneRequest } from '../../src/index.js';
import { getDevice } from '../helpers.js';

/** A request whose candidates spend host time only: `run` of candidate c waits `cost[c]` ms. */
function hostRequest(name: string, cost: Record<string, number>, fallback: string, log: string[] = []): TuneRequest<string> {
  return {
    key: { op: 'test', family: name, shape: [1, 2], attrs: '' },
    candidates: Object.keys(cost).map((c) => ({ name: c, impl: c })),
    fallback,
    trial: () => ({
      run: (c) => {
        log.push(c);
        const until = performance.now() + cost[c]!;
        while (performance.now() < until) {
          /* spin: host time is what the wall clock sees */
        }
      },
      dispose: () => log.push('disposed'),
    }),
  };
}

describe('tuner', () => {
  let device: Device;
  beforeAll(async () => {
    device = await getDevice();
  });

  it('rounds shape classes up to powers of two and keys by adapter', () => {
    expect([0, 1, 2, 3, 5, 64, 65, 155].map(roundPow2)).toEqual([0, 1, 2, 4, 8, 64, 128, 256]);
    expect(shapeClass([1, 4, 30, 96, 96, 96])).toEqual([1, 4, 32, 128, 128, 128]);
    const k = { op: 'conv3d', family: 'forward', shape: shapeClass([1, 3, 5]), attrs: 'k3,3,3' };
    expect(keyString({ ...k, adapter: 'A' })).toBe('conv3d.forward [1,4,8] k3,3,3 @ A');
    expect(keyString({ ...k, adapter: 'A' })).not.toBe(keyString({ ...k, adapter: 'B' }));
  });

  it('keeps results across a save and a fresh read, in a file written atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-tune-'));
    const path = join(dir, 'sub', 'tune.json');
    const a = new TuneCache(fileTuneStore(path));
    expect(a.size).toBe(0);
    a.set('k1', { variant: 'v2', ms: { v1: 2, v2: 1 }, timer: 'gpu', at: '2026-01-01T00:00:00.000Z' });
    await a.save();
    const b = new TuneCache(fileTuneStore(path));
    expect(b.get('k1')).toEqual({ variant: 'v2', ms: { v1: 2, v2: 1 }, timer: 'gpu', at: '2026-01-01T00:00:00.000Z' });
    expect(JSON.parse(readFileSync(path, 'utf8')).format).toBe('hnfnet-tune');
    expect(tuneCachePath({ HNFNET_TUNE_CACHE: '/x/t.json', XDG_CACHE_HOME: '/c' })).toBe('/x/t.json');
    expect(tuneCachePath({ XDG_CACHE_HOME: '/c' })).toBe('/c/hnfnet/tune.json');
  });

  it('warns about a corrupt cache, names it, ignores it and rewrites it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-tune-'));
    const path = join(dir, 'tune.json');
    for (const bad of ['{not json', '{"format":"other"}', '{"format":"hnfnet-tune","version":1,"entries":{"k":{"variant":3}}}']) {
      writeFileSync(path, bad);
      const warnings: string[] = [];
      const c = new TuneCache(fileTuneStore(path), (m) => warnings.push(m));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(path);
      expect(warnings[0]).toMatch(/ignoring the tuning cache/);
      expect(c.size).toBe(0);
    }
    const tuner = new Tuner(device, { mode: 'on', store: fileTuneStore(path), totalMs: 5000 });
    const orig = console.warn;
    console.warn = () => {};
    try {
      expect(tuner.choose(hostRequest('corrupt', { a: 0, b: 0 }, 'a'))).toBe('a');
    } finally {
      console.warn = orig;
    }
    await tuner.tunePending();
    expect(new TuneCache(fileTuneStore(path), () => expect.fail('rewritten cache should parse')).size).toBe(1);
  });

  it("mode 'off' runs the shipped default and never reads the store", async () => {
    const store = { where: 'never', load: () => expect.fail('off must not read the cache') as never, save: async () => expect.fail('off must not write') as never };
    const tuner = new Tuner(device, { mode: 'off', store });
    expect(tuner.choose(hostRequest('off', { a: 5, b: 0 }, 'a'))).toBe('a');
    expect(tuner.pending).toBe(0);
    expect((await tuner.tunePending()).rows).toEqual([]);
  });

  it("mode 'on' measures what is queued, picks the fastest and uses the cache afterwards", async () => {
    const store = new MemoryStore();
    const log: string[] = [];
    const tuner = new Tuner(device, { mode: 'on', store, reps: 3 });
    const req = hostRequest('on', { slow: 30, fast: 2 }, 'slow', log);
    expect(tuner.choose(req)).toBe('slow');
    expect(tuner.choose(req)).toBe('slow');
    expect(tuner.pending).toBe(1);
    const r = await tuner.tunePending();
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]!.variant).toBe('fast');
    expect(r.rows[0]!.ms.slow).toBeGreaterThan(r.rows[0]!.ms.fast!);
    expect(r.rows[0]!.timer).toBe('wall');
    expect(log[0]).toBe('slow'); // the default is measured first
    expect(log.at(-1)).toBe('disposed');
    expect(tuner.choose(req)).toBe('fast');
    expect(tuner.pending).toBe(0);
    // A new tuner on the same store starts from the saved result.
    const again = new Tuner(device, { mode: 'on', store });
    expect(again.choose(req)).toBe('fast');
    expect(again.report().rows.map((x) => x.status)).toEqual(['cached']);
  });

  it("mode 'retune' ignores cached winners until measured again, then overwrites them", async () => {
    const store = new MemoryStore();
    const req = hostRequest('retune', { a: 20, b: 1 }, 'a');
    const ks = keyString({ ...req.key, adapter: device.adapterInfo });
    const seeded = new TuneCache(store);
    seeded.set(ks, { variant: 'a', ms: { a: 1, b: 99 }, timer: 'gpu', at: '2000-01-01T00:00:00.000Z' });
    await seeded.save();
    expect(new Tuner(device, { mode: 'on', store }).choose(req)).toBe('a');
    const tuner = new Tuner(device, { mode: 'retune', store });
    expect(tuner.choose(req)).toBe('a');
    expect(tuner.pending).toBe(1);
    await tuner.tunePending();
    const e = new TuneCache(store).get(ks)!;
    expect(e.variant).toBe('b');
    expect(e.at).not.toBe('2000-01-01T00:00:00.000Z');
    expect(e.ms.b).toBeLessThan(e.ms.a!);
    expect(tuner.choose(req)).toBe('b');
  });

  it('keeps to the per-key budget (the default still measured) and the total budget', async () => {
    const tuner = new Tuner(device, { mode: 'on', store: new MemoryStore(), perKeyMs: 150, totalMs: 1, reps: 5 });
    tuner.choose(hostRequest('k1', { d: 60, x: 1, y: 1 }, 'd'));
    tuner.choose(hostRequest('k2', { d: 1, x: 1 }, 'd'));
    const t0 = performance.now();
    const r = await tuner.tunePending();
    const took = performance.now() - t0;
    // Key 1: the default's compile run and one or two timed runs fill its 150 ms; x and y are skipped.
    const k1 = r.rows.find((x) => x.family === 'k1')!;
    expect(k1.status).toBe('tuned');
    expect(Object.keys(k1.ms)).toEqual(['d']);
    expect(k1.skipped).toEqual(['x', 'y']);
    expect(k1.variant).toBe('d');
    // Key 2 never started: the 1 ms total was spent by key 1, so it stays queued on its default.
    const k2 = r.rows.find((x) => x.family === 'k2')!;
    expect(k2.status).toBe('queued');
    expect(tuner.pending).toBe(1);
    expect(took).toBeLessThan(1500);
    expect(r.totalMs).toBeGreaterThanOrEqual(k1.spentMs);
  });

  it('rejects a bad mode', () => {
    expect(() => new Tuner(device, { mode: 'sometimes' as never })).toThrow(/mode must be one of off, on, retune/);
  });
});
