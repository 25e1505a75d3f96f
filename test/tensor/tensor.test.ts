import { beforeAll, describe, expect, it } from 'vitest';
import { add, addScalar, ArgumentError, DisposedError, empty, Generator, keep, LimitError, mul, ones, pipe, rand, randn, relu, ShapeError, tensor, tidy, zeros, type Device } from '../../src/index.js';
import { sizeClass } from '../../src/tensor/pool.js';
import { expectClose, getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

describe('device', () => {
  it('requests the adapter limits hnfnet relies on', () => {
    expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    expect(device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(device.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(device.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });
});

describe('creation and readback', () => {
  it('tensor, zeros, ones, full values and shapes', async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(await zeros([2, 2]).data())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ones([3]).data())).toEqual([1, 1, 1]);
    expect(await tensor([7.5], []).item()).toBe(7.5);
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it('randn and rand repeat from a seed and have the right moments', async () => {
    const a = await randn([4096], { seed: 42 }).data();
    const b = await randn([4096], { seed: 42 }).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    const c = await randn([4096], { seed: 43 }).data();
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const m = a.reduce((s, v) => s + v, 0) / a.length;
    const v = a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length;
    expect(Math.abs(m)).toBeLessThan(0.06);
    expect(Math.abs(v - 1)).toBeLessThan(0.08);
    const u = await rand([1000], { seed: 1, low: 2, high: 3 }).data();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThan(3);
    const g = new Generator(9);
    const st = g.getState();
    const x1 = [g.normal(), g.uniform()];
    g.setState(st);
    expect([g.normal(), g.uniform()]).toEqual(x1);
  });

  it('reshape is a view on the same buffer; -1 infers a dimension', async () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = t.reshape([3, -1]);
    expect(v.shape).toEqual([3, 2]);
    expect(v.buffer).toBe(t.buffer);
    t.dispose();
    // The view keeps the storage alive after the original handle is gone.
    expect(Array.from(await v.data())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => v.reshape([4, 2])).toThrow(ShapeError);
    expect(() => v.reshape([4, 2])).toThrow(/cannot view \[3, 2\] \(6 elements\) as \[4, 2\]/);
  });

  it('use after dispose is a clear error', async () => {
    const t = tensor([1, 2], [2]);
    t.dispose();
    t.dispose();
    expect(() => relu(t)).toThrow(DisposedError);
    await expect(t.data()).rejects.toThrow(/used after dispose/);
  });
});

describe('limits', () => {
  it('a tensor larger than the device allows names the limit and the shape', () => {
    const big = [64, 1024, 1024, 1024];
    expect(() => empty(big)).toThrow(LimitError);
    expect(() => zeros(big)).toThrow(/shape \[64, 1024, 1024, 1024\] needs 274877906944 bytes, more than the device's maxBufferSize/);
  });

  it('launches beyond 65,535 workgroups per dimension are spread over the grid', async () => {
    const n = 65535 * 256 + 1000; // one workgroup more than a 1-D grid holds
    const x = zeros([n]);
    const y = addScalar(x, 3);
    const v = await y.data();
    expect(v.length).toBe(n);
    expect(v.every((e) => e === 3)).toBe(true);
    [x, y].forEach((t) => t.dispose());
  });
});

describe('memory: pool, scopes, stats', () => {
  it('size classes waste at most 12.5% above 64 KiB', () => {
    for (const b of [1, 17, 4096, 65536, 65537, 100000, 1 << 20, 3e7]) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      if (b > 65536) expect(c / b).toBeLessThanOrEqual(1.125 + 1e-9);
    }
  });

  it('disposed buffers return to the pool only after a submit, then get reused', async () => {
    const before = device.memoryStats();
    const a = zeros([1000]);
    const buf = a.buffer;
    a.dispose();
    const b = zeros([1000]); // same size class, but no submit in between: must be a fresh buffer
    expect(b.buffer).not.toBe(buf);
    device.flush();
    const c = zeros([1000]);
    expect(c.buffer).toBe(buf);
    b.dispose();
    c.dispose();
    expect(device.memoryStats().liveBytes).toBe(before.liveBytes);
  });

  it('tidy disposes what it made except the result; keep() opts out', async () => {
    const live0 = device.memoryStats().liveBytes;
    let kept = null as null | ReturnType<typeof ones>;
    const out = tidy(() => {
      const a = ones([256]);
      const b = add(a, a);
      kept = keep(mul(b, b));
      return { result: relu(b) };
    });
    expect(Array.from((await out.result.data()).slice(0, 2))).toEqual([2, 2]);
    expect(Array.from((await kept!.data()).slice(0, 2))).toEqual([4, 4]);
    const cls = sizeClass(256 * 4);
    expect(device.memoryStats().liveBytes - live0).toBe(2 * cls);
    out.result.dispose();
    kept!.dispose();
    expect(device.memoryStats().liveBytes).toBe(live0);
    expect(() => tidy(() => Promise.resolve(1) as never)).toThrow(/synchronous/);
  });

  it('tidy refuses an async function without leaking what it made or an unhandled rejection', async () => {
    const live0 = device.memoryStats().liveBytes;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    let made = null as null | ReturnType<typeof ones>;
    try {
      expect(() =>
        tidy((async () => {
          made = ones([256]);
          await Promise.resolve();
          throw new Error('inside');
        }) as never),
      ).toThrow(ArgumentError);
      expect(made!.isDisposed).toBe(true);
      expect(device.memoryStats().liveBytes).toBe(live0);
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('pipe frees each intermediate once the next step has returned, and what a step made beside its result', async () => {
    const x = ones([1 << 14]);
    const cls = sizeClass((1 << 14) * 4);
    const live0 = device.memoryStats().liveBytes;
    const alive: number[] = [];
    const step = (t: ReturnType<typeof ones>) => {
      const y = add(mul(t, t), t);
      alive.push((device.memoryStats().liveBytes - live0) / cls);
      return y;
    };
    const y = pipe(x, step, step, (t) => t, step);
    // Inside a step: its input (x, not counted, or the previous result), mul's temporary and its result.
    expect(alive).toEqual([2, 3, 3]);
    expect(Array.from((await y.data()).slice(0, 2))).toEqual([42, 42]);
    expect(device.memoryStats().liveBytes - live0).toBe(cls);
    expect(x.isDisposed).toBe(false);
    y.dispose();
    // With nothing to run, x itself comes back.
    expect(pipe(x)).toBe(x);
    x.dispose();
    expect(device.memoryStats().liveBytes).toBe(live0 - cls);
  });

  it('peak and pooled bytes are reported', () => {
    device.resetPeakMemory();
    const s0 = device.memoryStats();
    const a = zeros([1 << 16]);
    const s1 = device.memoryStats();
    expect(s1.peakBytes).toBeGreaterThanOrEqual(s0.liveBytes + (1 << 18));
    a.dispose();
    device.flush();
    expect(device.memoryStats().pooledBytes).toBeGreaterThanOrEqual(1 << 18);
  });
});

describe('command batching', () => {
  it('submits every few dozen dispatches, not per op, and on readback', async () => {
    device.flush();
    const s0 = device.submits;
    let x = zeros([64]);
    for (let i = 0; i < 20; i++) {
      const y = addScalar(x, 1);
      x.dispose();
      x = y;
    }
    expect(device.submits - s0).toBe(0);
    expect(await x.item().catch(() => NaN)).toBeNaN(); // 64 elements: item() refuses
    const vals = await x.data();
    expect(vals[0]).toBe(20);
    expect(device.submits - s0).toBeGreaterThanOrEqual(1);
    expect(device.submits - s0).toBeLessThanOrEqual(2);
    for (let i = 0; i < 100; i++) {
      const y = addScalar(x, 1);
      x.dispose();
      x = y;
    }
    const n = device.submits - s0;
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(6);
    expectClose(await x.data(), new Float32Array(64).fill(120), 0, 0);
  });
});
