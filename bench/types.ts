import type { Device } from '../src/index.js';

/** What a benchmark case gets: the device, and whether to use the quick (smaller) sizes. */
export interface BenchContext {
  device: Device;
  quick: boolean;
}

/** One prepared benchmark: `run` performs one iteration (recording GPU work is enough). */
export interface BenchRun {
  run(): void | Promise<void>;
  /** Frees what setup made. */
  dispose(): void | Promise<void>;
}

export interface BenchCase {
  /** The workload, shared by implementations that compute the same thing (a row group in the table). */
  name: string;
  /** Who computes it: 'hnfnet', 'tfjs-webgpu', 'onnxruntime-node', ... */
  impl: string;
  /** Floating-point operations of one run (GFLOP/s column), or... */
  flops?: number;
  /** ...bytes moved by one run (GB/s column). */
  bytes?: number;
  /**
   * 'gpu': the harness waits for the device after each run and, where the adapter has
   * timestamp queries, times the GPU work itself. 'host': run() returns when the work is done.
   */
  timing: 'gpu' | 'host';
  /** Untimed and timed runs, where a case is too slow for the defaults (2 and --reps). */
  runs?: { warmup: number; reps: number };
  setup(ctx: BenchContext): Promise<BenchRun>;
}
