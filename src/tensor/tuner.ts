import type { Device } from './device.js';
import { ArgumentError, InternalError } from './errors.js';
import { defaultTuneStore, TuneCache, type TuneEntry, type TuneStore } from './tune-cache.js';
import { keyString, type TuneKey } from './tune-key.js';
import { median, timeOnce, type TimerKind } from './tune-timer.js';

/**
 * Autotuning as a service of the runtime. A kernel with several implementations of one
 * pass asks `device.tuner.choose(request)` at every call: it gets the measured winner for
 * the request's key from the cache, or else the shipped default, and in modes 'on' and
 * 'retune' the key is queued. `tunePending()` then runs each queued key's candidates on
 * synthetic inputs of the real shapes, keeps the fastest (median of a few runs) and saves
 * the cache. Measuring needs the GPU queue drained, which JavaScript can only await, so it
 * never happens inside an op: `hnfnet tune`, or a program between steps, asks for it.
 *
 * Modes: 'off': the shipped defaults only, the cache is neither read nor written (what
 * hnfnet ran before tuning existed); 'on' (the default): cached winners are used, nothing
 * is measured unless asked, so a first run costs no time and one `hnfnet tune` makes later
 * runs use measured variants; 'retune': cached winners are ignored until re-measured, and
 * overwritten.
 */
export type TuneMode = 'off' | 'on' | 'retune';

export const TUNE_MODES: readonly TuneMode[] = ['off', 'on', 'retune'];

export interface TuneOptions {
  /** Default: $HNFNET_TUNE, else 'on'. */
  mode?: TuneMode;
  /** Wall time one key may take (ms, candidates' compilation included); the default is always measured. Default 10 s. */
  perKeyMs?: number;
  /** Wall time one `tunePending()` may take (ms); keys beyond it stay queued. Default 120 s. */
  totalMs?: number;
  /** Timed runs per candidate (after one untimed run that compiles). Default 3. */
  reps?: number;
  /** Where results persist (default: the file or localStorage, see tune-cache.ts). */
  store?: TuneStore;
}

export interface Candidate<T> {
  name: string;
  impl: T;
}

/** Synthetic inputs of a key's real shapes: runs one candidate (outputs freed at once). */
export interface Trial<T> {
  run(impl: T): void;
  dispose(): void;
}

export interface TuneRequest<T> {
  /** The key without the adapter (the tuner adds its device's). */
  key: Omit<TuneKey, 'adapter'>;
  candidates: readonly Candidate<T>[];
  /** The candidate the shipped table names for this adapter: used untuned, measured first. */
  fallback: string;
  /** Makes the synthetic inputs; called only when measuring. */
  trial(): Trial<T>;
}

export interface TuneRow {
  key: string;
  op: string;
  family: string;
  shape: readonly number[];
  attrs: string;
  variant: string;
  /** What runs where nothing was measured (the request's shipped default). */
  fallback: string;
  /** Median ms per measured candidate. */
  ms: Record<string, number>;
  /** Candidates left out by the per-key budget, and those that failed (with the reason). */
  skipped: string[];
  failed: Record<string, string>;
  timer: TimerKind | null;
  /** Wall time spent on this key (ms). */
  spentMs: number;
  /** 'tuned': measured by this tuner; 'cached': measured earlier, read from the cache; 'queued': running the default, not measured yet. */
  status: 'tuned' | 'cached' | 'queued';
}

export interface TuneReport {
  mode: TuneMode;
  where: string;
  adapter: string;
  rows: TuneRow[];
  /** Wall time of all tuning so far on this device (ms). */
  totalMs: number;
  budget: { perKeyMs: number; totalMs: number; reps: number };
}

/** A candidate slower than this multiple of the best so far gets no more timed runs. */
const HOPELESS = 3;

function envMode(): TuneMode | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.HNFNET_TUNE;
  if (v === undefined || v === '') return undefined;
  if (!(TUNE_MODES as readonly string[]).includes(v)) throw new ArgumentError(`HNFNET_TUNE=${v}: expected one of ${TUNE_MODES.join(', ')}`);
  return v as TuneMode;
}

function positive(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!(Number.isFinite(v) && v > 0)) throw new ArgumentError(`tuner: ${what} must be a positive number, got ${v}`);
  return v;
}

interface Queued {
  req: TuneRequest<unknown>;
  key: TuneKey;
}

export class Tuner {
  mode: TuneMode;
  readonly budget: { perKeyMs: number; totalMs: number; reps: number };
  private cacheRef: TuneCache | null = null;
  private readonly storeOpt: TuneStore | undefined;
  private readonly queue = new Map<string, Queued>();
  /** Keys measured on this device (in 'retune' mode only these use the cache). */
  private readonly rows = new Map<string, TuneRow>();
  /** Keys whose cached winner ran (for the report). */
  private readonly cachedUsed = new Map<string, { key: TuneKey; fallback: string }>();
  private spent = 0;

  constructor(
    private readonly device: Device,
    opts: TuneOptions = {},
  ) {
    const mode = opts.mode ?? envMode() ?? 'on';
    if (!TUNE_MODES.includes(mode)) throw new ArgumentError(`tuner: mode must be one of ${TUNE_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    this.mode = mode;
    this.budget = {
      perKeyMs: positive(opts.perKeyMs, 10_000, 'perKeyMs'),
      totalMs: positive(opts.totalMs, 120_000, 'totalMs'),
      reps: Math.round(positive(opts.reps, 3, 'reps')),
    };
    this.storeOpt = opts.store;
  }

  /** The cache, read on first use (mode 'off' never reads it). */
  get cache(): TuneCache {
    this.cacheRef ??= new TuneCache(this.storeOpt ?? defaultTuneStore());
    return this.cacheRef;
  }

  /** The implementation to run for this request now (see the class comment). */
  choose<T>(req: TuneRequest<T>): T {
    const fallback = req.candidates.find((c) => c.name === req.fallback);
    if (!fallback) throw new InternalError(`tuner: default "${req.fallback}" of ${req.key.op}.${req.key.family} is not among its candidates`);
    if (this.mode === 'off' || req.candidates.length < 2) return fallback.impl;
    const key: TuneKey = { ...req.key, adapter: this.device.adapterInfo };
    const ks = keyString(key);
    const hit = this.mode === 'on' || this.rows.has(ks) ? this.cache.get(ks) : undefined;
    const winner = hit && req.candidates.find((c) => c.name === hit.variant);
    if (winner) {
      if (!this.rows.has(ks)) this.cachedUsed.set(ks, { key, fallback: req.fallback });
      return winner.impl;
    }
    // Not measured (or measured among candidates that no longer exist): queue it.
    if (!this.queue.has(ks)) this.queue.set(ks, { req: req as TuneRequest<unknown>, key });
    return fallback.impl;
  }

  /** Keys waiting to be measured. */
  get pending(): number {
    return this.queue.size;
  }

  /**
   * Measures every queued key within the budget (keys beyond it stay queued), saves the
   * cache, and returns the report. Call it between steps: it drains the GPU queue.
   */
  async tunePending(): Promise<TuneReport> {
    if (this.mode === 'off') return this.report();
    const started = performance.now();
    let tuned = 0;
    for (const [ks, q] of [...this.queue]) {
      if (performance.now() - started >= this.budget.totalMs) break;
      const row = await this.measure(ks, q);
      this.queue.delete(ks);
      this.rows.set(ks, row);
      this.cache.set(ks, { variant: row.variant, ms: row.ms, timer: row.timer ?? 'wall', at: new Date().toISOString() } satisfies TuneEntry);
      tuned++;
    }
    this.spent += performance.now() - started;
    if (tuned > 0) await this.cache.save();
    return this.report();
  }

  private async measure(ks: string, q: Queued): Promise<TuneRow> {
    const t0 = performance.now();
    const { req, key } = q;
    const order = [...req.candidates].sort((a, b) => (a.name === req.fallback ? -1 : b.name === req.fallback ? 1 : 0));
    const ms: Record<string, number> = {};
    const skipped: string[] = [];
    const failed: Record<string, string> = {};
    let timer: TimerKind | null = null;
    let best = Infinity;
    // Whatever the user's program left on the queue is not ours to time (nor its errors ours to catch).
    await this.device.sync();
    const trial = req.trial();
    try {
      for (const c of order) {
        if (Object.keys(ms).length > 0 && performance.now() - t0 >= this.budget.perKeyMs) {
          skipped.push(c.name);
          continue;
        }
        try {
          await timeOnce(this.device, () => trial.run(c.impl)); // compiles; not counted
          const samples: number[] = [];
          for (let r = 0; r < this.budget.reps; r++) {
            const t = await timeOnce(this.device, () => trial.run(c.impl));
            samples.push(t.ms);
            timer = t.timer;
            if (t.ms > HOPELESS * best || performance.now() - t0 >= this.budget.perKeyMs) break;
          }
          ms[c.name] = median(samples);
          best = Math.min(best, ms[c.name]!);
        } catch (e) {
          failed[c.name] = (e as Error).message;
        }
      }
    } finally {
      trial.dispose();
    }
    const measured = Object.entries(ms);
    const variant = measured.length ? measured.reduce((a, b) => (b[1] < a[1] ? b : a))[0] : req.fallback;
    return { key: ks, op: key.op, family: key.family, shape: key.shape, attrs: key.attrs, variant, fallback: req.fallback, ms, skipped, failed, timer, spentMs: performance.now() - t0, status: 'tuned' };
  }

  report(): TuneReport {
    const queued: TuneRow[] = [...this.queue].map(([ks, { req, key }]) => ({
      key: ks,
      op: key.op,
      family: key.family,
      shape: key.shape,
      attrs: key.attrs,
      variant: req.fallback,
      fallback: req.fallback,
      ms: {},
      skipped: req.candidates.map((c) => c.name),
      failed: {},
      timer: null,
      spentMs: 0,
      status: 'queued',
    }));
    const cached: TuneRow[] = [...this.cachedUsed].map(([ks, { key, fallback }]) => {
      const e = this.cache.get(ks)!;
      return { key: ks, op: key.op, family: key.family, shape: key.shape, attrs: key.attrs, variant: e.variant, fallback, ms: e.ms, skipped: [], failed: {}, timer: e.timer, spentMs: 0, status: 'cached' };
    });
    return {
      mode: this.mode,
      where: this.mode === 'off' ? '(not used: tuning is off)' : this.cache.store.where,
      adapter: this.device.adapterInfo,
      rows: [...this.rows.values(), ...cached, ...queued],
      totalMs: this.spent,
      budget: { ...this.budget },
    };
  }
}
