import type { Device } from '../src/index.js';

/** What a benchmark case gets: the device, and whether to use the quick (smaller) sizes. */
export interface BenchContext {
  device: Device;
  quick: boolean;
}

/** One prepared benchmark: `run` performs one iteration (recording GPU work is enough). */
export interface BenchRun {
  run(): void | Promise<void>;
  /**
   * For a case that times itself (a peer with its own device clock): `reps` timed runs after
   * its own warm-up, in ms, and the clock's name. The harness then does not call `run`.
   */
  measure?(reps: number): Promise<{ times: number[]; clock: string }>;
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
