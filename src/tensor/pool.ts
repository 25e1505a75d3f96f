/**
 * GPU buffers recycled by size class. A released buffer is not reusable at once: the
 * command buffer still being recorded may read it, and a later `queue.writeBuffer` into
 * it would run before that command buffer is submitted. So releases wait in `pending`
 * until the next submit, which is the only point where it becomes safe.
 *
 * The pool is bounded. A buffer of one size class serves no request of another, so an
 * unbounded pool holds every size a workload ever freed: a 128³ training step of hnfnetv2
 * peaked at 7.9 GB live but 16.1 GB held. After each submit, free buffers beyond the cap
 * go back to the driver, least recently released first (the sizes a loop freed last are
 * the ones it asks for next). The default cap is a quarter of the highest live bytes seen,
 * and never under 256 MiB, so small workloads never evict and a repeating loop's steady
 * state still creates nothing. A buffer about to be created while the pool is over its cap
 * first submits (see acquire), so what the driver holds stays near live + cap even within
 * one long stretch of recording.
 */
export interface PoolStats {
  /** Bytes of storage buffers handed out and not yet released. */
  liveBytes: number;
  /** Highest liveBytes seen since the device was created (or since resetPeak). */
  peakBytes: number;
  /** Bytes sitting in the pool (free or waiting for a submit). */
  pooledBytes: number;
  /**
   * Highest live + pooled bytes since the device was created (or since resetPeak): what the
   * driver holds for hnfnet, since a pooled buffer is memory too until `trimPool()`.
   */
  peakHeldBytes: number;
  /** Number of buffers created over the device's life (a growing count means the pool misses). */
  created: number;
  /** Free buffers returned to the driver because the pool was over its cap. */
  evicted: number;
  liveBuffers: number;
}

/** Size classes: powers of two up to 64 KiB, then eighths of each power of two (at most 12.5% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 65536) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

/** The most bytes the pool keeps in free buffers, given the live high-water mark. */
export type PoolCap = (highWaterBytes: number) => number;

export const DEFAULT_POOL_CAP: PoolCap = (highWater) => Math.max(256 * 2 ** 20, highWater / 4);

interface FreeBuffer {
  buf: GPUBuffer;
  /** Release order: the smallest is the least recently released. */
  seq: number;
}

export class BufferPool {
  private free = new Map<number, FreeBuffer[]>();
  private pending: GPUBuffer[] = [];
  private liveBytes = 0;
  private peakBytes = 0;
  private pooledBytes = 0;
  private peakHeldBytes = 0;
  private created = 0;
  private evicted = 0;
  private liveBuffers = 0;
  private highWater = 0;
  private seq = 0;

  constructor(
    private readonly create: (bytes: number) => GPUBuffer,
    private readonly trackLive: boolean,
    /** Null: unbounded (the uniform and staging pools, whose buffers are small and few). */
    private readonly cap: PoolCap | null = null,
    /** Submits the work recorded so far (the device's flush, which ends in afterSubmit). */
    private readonly submit: (() => void) | null = null,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    let buf = this.take(cls);
    if (!buf && this.cap && this.submit && this.pooledBytes > this.cap(this.highWater)) {
      // About to create while over the cap: the excess is mostly releases still waiting for a
      // submit (a large op frees hundreds of MiB between two), which only a submit lets go.
      // Submitting now evicts them before the new buffer adds to what the driver holds, and
      // may free one of this very class.
      this.submit();
      buf = this.take(cls);
    }
    if (!buf) {
      buf = this.create(cls);
      this.created++;
    }
    if (this.trackLive) {
      this.liveBytes += cls;
      this.liveBuffers++;
      if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
      if (this.liveBytes > this.highWater) this.highWater = this.liveBytes;
      if (this.liveBytes + this.pooledBytes > this.peakHeldBytes) this.peakHeldBytes = this.liveBytes + this.pooledBytes;
    }
    return buf;
  }

  private take(cls: number): GPUBuffer | undefined {
    const buf = this.free.get(cls)?.pop()?.buf;
    if (buf) this.pooledBytes -= cls;
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (this.trackLive) {
      this.liveBytes -= buf.size;
      this.liveBuffers--;
    }
    this.pooledBytes += buf.size;
    this.pending.push(buf);
  }

  /** Called right after a queue submit: everything released before it may be reused now. */
  afterSubmit(): void {
    for (const buf of this.pending) {
      let list = this.free.get(buf.size);
      if (!list) this.free.set(buf.size, (list = []));
      list.push({ buf, seq: this.seq++ });
    }
    this.pending.length = 0;
    if (this.cap) this.evictBeyond(this.cap(this.highWater));
  }

  /** Destroys free buffers, least recently released first, until at most `cap` bytes are pooled. */
  private evictBeyond(cap: number): void {
    while (this.pooledBytes > cap) {
      let oldest: FreeBuffer[] | null = null;
      for (const list of this.free.values()) if (list.length && (!oldest || list[0]!.seq < oldest[0]!.seq)) oldest = list;
      if (!oldest) return; // what is left waits for a submit
      const { buf } = oldest.shift()!;
      this.pooledBytes -= buf.size;
      this.evicted++;
      // Safe while submitted work still reads it: WebGPU frees it once that work is done.
      buf.destroy();
    }
  }

  /** Frees the pooled buffers (not the live ones) back to the driver. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const { buf } of list) {
        buf.destroy();
        this.pooledBytes -= buf.size;
      }
    }
    this.free.clear();
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
    this.peakHeldBytes = this.liveBytes + this.pooledBytes;
  }

  stats(): PoolStats {
    return {
      liveBytes: this.liveBytes,
      peakBytes: this.peakBytes,
      pooledBytes: this.pooledBytes,
      peakHeldBytes: this.peakHeldBytes,
      created: this.created,
      evicted: this.evicted,
      liveBuffers: this.liveBuffers,
    };
  }
}
