/**
 * A loader whose batches are built in worker threads while the main thread trains. Batches are
 * the same as the same-thread loader's for a given seed (both run buildBatch, whose result depends
 * only on seed, step and data), and arrive in step order. Memory stays bounded: at most `prefetch`
 * batches are being built or waiting, plus the one the caller holds, and each worker keeps only a
 * few preprocessed cases.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { folderProvider } from './case-files.node.js';
import { SameThreadLoader, loaderConfig, phantomProvider, type Batch, type BatchLoader, type CaseProvider, type LoaderConfig, type SourceSpec } from './loader.js';
import { ArgumentError, HnfnetError } from '../tensor/errors.js';
import { DataError } from './errors.js';

export function providerFromSpec(spec: SourceSpec): CaseProvider {
  switch (spec.kind) {
    case 'phantom':
      return phantomProvider(spec);
    case 'folders':
      return folderProvider(spec);
  }
}

export interface WorkerLoaderOptions {
  /** Worker threads; 0 builds batches on the calling thread. Default: cores − 1, at most 4, at least 1. */
  workers?: number;
  /** Batches built ahead of the consumer; default 2. */
  prefetch?: number;
  /** First step to deliver (to resume a run); default 0. */
  startStep?: number;
}

/** Loader for Node: worker threads when `workers` > 0, else the same-thread loader on the same data. */
export function createLoader(spec: SourceSpec, config: Partial<LoaderConfig> = {}, opts: WorkerLoaderOptions = {}): BatchLoader {
  const workers = opts.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  if (workers <= 0) return new SameThreadLoader(providerFromSpec(spec), config, opts.startStep ?? 0);
  return new WorkerLoader(spec, config, { ...opts, workers });
}

export interface WorkerInit {
  spec: SourceSpec;
  config: LoaderConfig;
}
export type WorkerRequest = { type: 'batch'; step: number };
export type WorkerReply = { type: 'batch'; step: number; batch: Batch } | { type: 'error'; step: number; message: string; source?: string; problem?: string };

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Deferred {
  promise: Promise<Batch>;
  resolve(b: Batch): void;
  reject(e: Error): void;
}

function deferred(): Deferred {
  let resolve!: (b: Batch) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<Batch>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The consumer may not have asked for this step yet; a failure is reported when it does.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Spawns a worker running loader-worker.node. Under a TypeScript runtime (tsx, vitest) the source
 * is .ts, which a bare worker cannot load, so the worker first registers tsx's loader.
 */
function spawnWorker(init: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const require = createRequire(here);
    const tsxApi = pathToFileURL(require.resolve('tsx/package.json').replace(/package\.json$/, 'dist/esm/api/index.mjs')).href;
    const entry = new URL('./loader-worker.node.ts', here).href;
    const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData: init, execArgv: [] });
  }
  return new Worker(new URL('./loader-worker.node.js', here), { workerData: init });
}

export class WorkerLoader implements BatchLoader {
  readonly config: LoaderConfig;
  readonly stepsPerEpoch: number;
  readonly caseCount: number;
  private readonly slots: Slot[] = [];
  /** Requested steps whose batch has not arrived. */
  private readonly unresolved = new Map<number, Deferred>();
  /** Requested steps not yet handed to the consumer. */
  private readonly promises = new Map<number, Promise<Batch>>();
  private readonly queue: number[] = [];
  private readonly prefetch: number;
  private step: number;
  private scheduled: number;
  private failure: Error | null = null;
  private closed = false;

  constructor(spec: SourceSpec, config: Partial<LoaderConfig> = {}, opts: WorkerLoaderOptions = {}) {
    this.config = loaderConfig(config);
    this.caseCount = spec.kind === 'phantom' ? spec.count : spec.dirs.length;
    if (!(this.caseCount >= 1)) throw new ArgumentError('loader: the data set has no cases');
    this.stepsPerEpoch = Math.ceil(this.caseCount / this.config.batchSize);
    this.prefetch = Math.max(1, opts.prefetch ?? 2);
    this.step = this.scheduled = opts.startStep ?? 0;
    const n = Math.max(1, opts.workers ?? 1);
    const init: WorkerInit = { spec, config: this.config };
    for (let i = 0; i < n; i++) {
      const slot: Slot = { worker: spawnWorker(init), busy: false };
      slot.worker.on('message', (m: WorkerReply) => this.onReply(slot, m));
      slot.worker.on('error', (e: Error) => this.fail(new DataError('loader worker', `failed: ${e.message}`)));
      slot.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new DataError('loader worker', `exited unexpectedly (code ${code})`));
      });
      slot.worker.unref();
      this.slots.push(slot);
    }
  }

  next(): Promise<Batch> {
    if (this.closed) return Promise.reject(new ArgumentError('loader is closed'));
    this.fill();
    const s = this.step++;
    const p = this.promises.get(s)!;
    this.promises.delete(s);
    this.fill();
    return p;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.unresolved.values()) d.reject(new ArgumentError('loader closed'));
    this.unresolved.clear();
    this.promises.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  /** Keeps steps up to step + prefetch − 1 requested. */
  private fill(): void {
    while (this.scheduled < this.step + this.prefetch) {
      const s = this.scheduled++;
      const d = deferred();
      this.promises.set(s, d.promise);
      if (this.failure) {
        d.reject(this.failure);
        continue;
      }
      this.unresolved.set(s, d);
      this.queue.push(s);
    }
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.queue.length === 0 || this.failure) continue;
      const step = this.queue.shift()!;
      slot.busy = true;
      slot.worker.ref();
      slot.worker.postMessage({ type: 'batch', step } satisfies WorkerRequest);
    }
  }

  private onReply(slot: Slot, m: WorkerReply): void {
    slot.busy = false;
    slot.worker.unref();
    const d = this.unresolved.get(m.step);
    this.unresolved.delete(m.step);
    if (d) {
      if (m.type === 'batch') d.resolve(m.batch);
      else d.reject(m.source !== undefined ? new DataError(m.source, m.problem ?? m.message) : new HnfnetError(m.message));
    }
    this.dispatch();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const d of this.unresolved.values()) d.reject(e);
    this.unresolved.clear();
  }
}
