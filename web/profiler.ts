/**
 * GPU time per kernel name, for the demo's timing table.
 *
 * hnfnet records up to a few dozen dispatches into one compute pass, and WebGPU can only
 * timestamp whole passes. While recording, the profiler therefore hands hnfnet's Device a
 * pass that is really a sequence of one-dispatch passes, each bracketed by two timestamps,
 * and names each from Device.dispatchHook (called just before the dispatch is recorded).
 * Submits stay batched, so the run is timed as it normally runs, plus a pass boundary per
 * dispatch. Everything happens on the GPUDevice object, outside the library: nothing in
 * src/ knows about it.
 *
 * Without the 'timestamp-query' feature only dispatch counts are kept. Browsers may coarsen
 * timestamps (Chrome rounds to 100 µs unless WebGPU developer features are on), so very short
 * kernels on a fast GPU can read as 0.
 */
import type { Device } from '../src/browser.js';

export interface KernelTiming {
  kernel: string;
  calls: number;
  /** Summed GPU time, or null without timestamp queries. */
  ms: number | null;
}

/** Dispatches per encoder before passes go untimed (hnfnet submits every 32 dispatches). */
const PASSES_PER_SLOT = 256;

interface Slot {
  querySet: GPUQuerySet;
  resolve: GPUBuffer;
  read: GPUBuffer;
  names: string[];
}

type PassFactory = (desc?: GPUComputePassDescriptor) => GPUComputePassEncoder;

/** One-dispatch passes behind the single pass object the Device believes it has. */
class SplitPass {
  label = '';
  private real: GPUComputePassEncoder | null = null;
  private dispatched = false;

  constructor(
    private readonly begin: PassFactory,
    private readonly slot: Slot | null,
    private readonly kernelName: () => string,
  ) {}

  private open(): GPUComputePassEncoder {
    if (this.real && !this.dispatched) return this.real;
    this.real?.end();
    const slot = this.slot;
    const i = slot ? slot.names.length : PASSES_PER_SLOT;
    if (slot && i < PASSES_PER_SLOT) {
      slot.names.push(this.kernelName());
      this.real = this.begin({ timestampWrites: { querySet: slot.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    } else {
      this.real = this.begin();
    }
    this.dispatched = false;
    return this.real;
  }

  setPipeline(p: GPUComputePipeline): void {
    this.open().setPipeline(p);
  }

  setBindGroup(index: number, group: GPUBindGroup | null, offsets?: Iterable<number>): void {
    (this.real ?? this.open()).setBindGroup(index, group, offsets);
  }

  dispatchWorkgroups(x: number, y?: number, z?: number): void {
    (this.real ?? this.open()).dispatchWorkgroups(x, y, z);
    this.dispatched = true;
  }

  end(): void {
    this.real?.end();
    this.real = null;
  }
}

export class KernelProfiler {
  readonly timed: boolean;
  private recording = false;
  private current = '?';
  private readonly calls = new Map<string, number>();
  private readonly ns = new Map<string, number>();
  private readonly free: Slot[] = [];
  private readonly finished: Slot[] = [];
  private readonly reads: Promise<void>[] = [];
  private readonly gpu: GPUDevice;

  constructor(private readonly device: Device) {
    this.gpu = device.gpuDevice;
    this.timed = device.features.has('timestamp-query');
    if (this.timed) this.instrument();
  }

  /** Patches this one GPUDevice: its encoders (while recording) and its queue's submit. */
  private instrument(): void {
    const dev = this.gpu;
    const createEncoder = dev.createCommandEncoder.bind(dev);
    dev.createCommandEncoder = (desc?: GPUCommandEncoderDescriptor) => {
      const enc = createEncoder(desc);
      return this.recording ? this.wrap(enc) : enc;
    };
    const queue = dev.queue;
    const submit = queue.submit.bind(queue);
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      submit(buffers);
      this.collect();
    };
  }

  private slot(): Slot {
    const s = this.free.pop();
    if (s) return s;
    const bytes = PASSES_PER_SLOT * 2 * 8;
    return {
      querySet: this.gpu.createQuerySet({ type: 'timestamp', count: PASSES_PER_SLOT * 2 }),
      resolve: this.gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      read: this.gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      names: [],
    };
  }

  private wrap(enc: GPUCommandEncoder): GPUCommandEncoder {
    const slot = this.slot();
    const begin = enc.beginComputePass.bind(enc) as PassFactory;
    enc.beginComputePass = () => new SplitPass(begin, slot, () => this.current) as unknown as GPUComputePassEncoder;
    const finish = enc.finish.bind(enc);
    enc.finish = (desc?: GPUCommandBufferDescriptor) => {
      const n = slot.names.length;
      if (n > 0) {
        enc.resolveQuerySet(slot.querySet, 0, 2 * n, slot.resolve, 0);
        enc.copyBufferToBuffer(slot.resolve, 0, slot.read, 0, 2 * n * 8);
        this.finished.push(slot);
      } else this.free.push(slot);
      return finish(desc);
    };
    return enc;
  }

  /** After a submit: maps the timestamp buffers of the encoders it carried. */
  private collect(): void {
    for (const slot of this.finished.splice(0)) {
      const n = slot.names.length;
      this.reads.push(
        slot.read.mapAsync(GPUMapMode.READ, 0, 2 * n * 8).then(
          () => {
            const t = new BigInt64Array(slot.read.getMappedRange(0, 2 * n * 8));
            for (let i = 0; i < n; i++) {
              const d = Number(t[2 * i + 1]! - t[2 * i]!);
              const name = slot.names[i]!;
              if (d > 0) this.ns.set(name, (this.ns.get(name) ?? 0) + d);
            }
            slot.read.unmap();
            slot.names = [];
            this.free.push(slot);
          },
          () => {
            // A lost device or a destroyed buffer: those passes go untimed.
          },
        ),
      );
    }
  }

  /** Starts a fresh table; every dispatch until stop() is counted (and timed where possible). */
  start(): void {
    this.calls.clear();
    this.ns.clear();
    this.device.flush();
    this.recording = true;
    this.device.dispatchHook = (kernel) => {
      this.current = kernel;
      this.calls.set(kernel, (this.calls.get(kernel) ?? 0) + 1);
    };
  }

  /** Stops recording and returns the table, slowest kernel first. */
  async stop(): Promise<KernelTiming[]> {
    this.device.flush();
    this.recording = false;
    this.device.dispatchHook = null;
    await Promise.all(this.reads.splice(0));
    const rows = [...this.calls].map(([kernel, calls]) => ({ kernel, calls, ms: this.timed ? (this.ns.get(kernel) ?? 0) / 1e6 : null }));
    return rows.sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0) || b.calls - a.calls);
  }
}
