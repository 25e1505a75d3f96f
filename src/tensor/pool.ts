/**
 * GPU buffers recycled by size class. A released buffer is not reusable at once: the
 * command buffer still being recorded may read it, and a later `queue.writeBuffer` into
 * it would run before that command buffer is submitted. So releases wait in `pending`
 * until the next submit, which is the only point where it becomes safe.
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

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private liveBytes = 0;
  private peakBytes = 0;
  private pooledBytes = 0;
  private peakHeldBytes = 0;
  private created = 0;
  private liveBuffers = 0;

  constructor(
    private readonly create: (bytes: number) => GPUBuffer,
    private readonly trackLive: boolean,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= cls;
    else {
      buf = this.create(cls);
      this.created++;
    }
    if (this.trackLive) {
      this.liveBytes += cls;
      this.liveBuffers++;
      if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
      if (this.liveBytes + this.pooledBytes > this.peakHeldBytes) this.peakHeldBytes = this.liveBytes + this.pooledBytes;
    }
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
      list.push(buf);
    }
    this.pending.length = 0;
  }

  /** Frees the pooled buffers (not the live ones) back to the driver. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    for (const list of this.free.values()) for (const b of list) this.pooledBytes -= b.size;
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
      liveBuffers: this.liveBuffers,
    };
  }
}
