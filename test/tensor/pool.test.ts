/**
 * The storage pool's cap: free buffers beyond it go back to the driver after a submit, least
 * recently released first; buffers still waiting for a submit are never destroyed, but a
 * buffer about to be created over the cap submits first; a loop whose buffers fit the cap
 * creates nothing after its first pass. Fake buffers on the host,
 * then one real device with a cap of 0.
 */
import { describe, expect, it } from 'vitest';
import { add, ArgumentError, Device, mul, tensor } from '../../src/index.js';
import { BufferPool, DEFAULT_POOL_CAP, sizeClass } from '../../src/tensor/pool.js';

interface FakeBuffer {
  size: number;
  id: number;
  destroyed: boolean;
  destroy(): void;
}

function fakePool(cap: number | null, submit?: () => void): { pool: BufferPool; made: FakeBuffer[] } {
  const made: FakeBuffer[] = [];
  const pool: BufferPool = new BufferPool(
    (bytes) => {
      const b: FakeBuffer = { size: bytes, id: made.length, destroyed: false, destroy: () => (b.destroyed = true) };
      made.push(b);
      return b as unknown as GPUBuffer;
    },
    true,
    cap === null ? null : () => cap,
    submit ?? null,
  );
  return { pool, made };
}

const KiB = 1024;

describe('buffer pool cap', () => {
  it('keeps at most the cap in free buffers, evicting the least recently released', () => {
    const { pool, made } = fakePool(600 * KiB);
    const sizes = [128, 256, 384, 512].map((k) => k * KiB);
    for (const s of sizes) expect(sizeClass(s)).toBe(s);
    const bufs = sizes.map((s) => pool.acquire(s));
    for (const b of bufs) pool.release(b);
    // Not yet submitted: nothing may be destroyed, and all of it counts as pooled.
    expect(made.some((b) => b.destroyed)).toBe(false);
    expect(pool.stats().pooledBytes).toBe(1280 * KiB);
    pool.afterSubmit();
    // Oldest first until at most 600 KiB: 128, 256 and 384 KiB go, 512 KiB stays.
    expect(made.map((b) => b.destroyed)).toEqual([true, true, true, false]);
    expect(pool.stats()).toMatchObject({ pooledBytes: 512 * KiB, evicted: 3, liveBytes: 0 });
  });

  it('orders by release, not by size or creation, and reuses what it kept', () => {
    const { pool, made } = fakePool(900 * KiB);
    const [a, b, c, d] = [128, 256, 384, 512].map((k) => pool.acquire(k * KiB));
    pool.release(b!);
    pool.release(a!);
    pool.release(d!);
    pool.release(c!);
    pool.afterSubmit();
    // 1280 KiB pooled, cap 900: b (released first) and a go; d and c (896 KiB) stay.
    expect(made.map((x) => x.destroyed)).toEqual([true, true, false, false]);
    expect(pool.stats().pooledBytes).toBe(896 * KiB);
    expect(pool.acquire(512 * KiB)).toBe(d);
    expect(pool.acquire(384 * KiB)).toBe(c);
    const again = pool.acquire(256 * KiB) as unknown as FakeBuffer;
    expect(again.id).toBe(4);
    expect(pool.stats()).toMatchObject({ created: 5, pooledBytes: 0 });
  });

  it('a loop whose buffers fit the cap creates nothing after its first pass', () => {
    const { pool } = fakePool(2 * 2 ** 20);
    const pass = () => {
      const held = [64, 96, 128, 160, 192].map((k) => pool.acquire(k * KiB));
      for (const b of held) pool.release(b);
      pool.afterSubmit();
    };
    pass();
    const created = pool.stats().created;
    for (let i = 0; i < 5; i++) pass();
    expect(pool.stats()).toMatchObject({ created, evicted: 0 });
  });

  it('submits before creating while over the cap, so releases waiting for a submit do not pile up', () => {
    let submits = 0;
    // The device's flush ends in afterSubmit; the fake does the same.
    const { pool, made } = fakePool(300 * KiB, () => {
      submits++;
      pool.afterSubmit();
    });
    // A long stretch of recording with no submit: each op frees its input and makes a new size.
    let cur = pool.acquire(100 * KiB);
    let peakHeld = 0;
    for (let k = 2; k <= 12; k++) {
      pool.release(cur);
      cur = pool.acquire(k * 100 * KiB);
      const s = pool.stats();
      peakHeld = Math.max(peakHeld, s.liveBytes + s.pooledBytes);
    }
    // Without the submit the pool would hold all eleven releases (6.6 MiB) beside the live one.
    expect(submits).toBeGreaterThan(0);
    expect(peakHeld).toBeLessThanOrEqual(1200 * KiB + 300 * KiB + 1100 * KiB);
    expect(pool.stats().pooledBytes).toBeLessThanOrEqual(300 * KiB + 1100 * KiB);
    expect(made.filter((b) => b.destroyed).length).toBeGreaterThan(5);
    // Under the cap, a miss does not submit.
    const before = submits;
    const { pool: calm } = fakePool(10 * 2 ** 20, () => submits++);
    calm.release(calm.acquire(100 * KiB));
    calm.acquire(200 * KiB);
    expect(submits).toBe(before);
  });

  it('unbounded (null cap) never evicts; the default cap is a quarter of the live high-water mark, at least 256 MiB', () => {
    const { pool, made } = fakePool(null);
    for (let i = 1; i <= 20; i++) pool.release(pool.acquire(i * 100 * KiB));
    pool.afterSubmit();
    expect(made.some((b) => b.destroyed)).toBe(false);
    expect(DEFAULT_POOL_CAP(0)).toBe(256 * 2 ** 20);
    expect(DEFAULT_POOL_CAP(8 * 2 ** 30)).toBe(2 * 2 ** 30);
  });
});

describe('device with maxPooledBytes', () => {
  it('0 returns every freed buffer after a submit and still computes the same results', async () => {
    const device = await Device.create({ maxPooledBytes: 0 });
    const a = tensor([1, 2, 3, 4], [4], { device });
    for (let i = 0; i < 3; i++) {
      const sq = mul(a, a);
      const b = add(sq, a);
      sq.dispose();
      expect(Array.from(await b.data())).toEqual([2, 6, 12, 20]);
      b.dispose();
    }
    device.flush();
    expect(device.memoryStats().pooledBytes).toBe(0);
    expect(device.memoryStats().evicted).toBeGreaterThan(0);
    a.dispose();
    device.destroy();
  });

  it('refuses a cap that is not a number of bytes', async () => {
    await expect(Device.create({ maxPooledBytes: -1 })).rejects.toThrow(ArgumentError);
    await expect(Device.create({ maxPooledBytes: Number.NaN })).rejects.toThrow(/maxPooledBytes must be a number of bytes/);
  });
});
