/**
 * Where tuning results persist, and their format. Node keeps a JSON file (tune-store.node.ts
 * registers it); browsers keep the same JSON in localStorage where there is one; elsewhere
 * results live as long as the process. This file stays free of Node imports so that the
 * browser bundle can include it.
 */

/** One tuned key: the winner and what every measured candidate took (milliseconds, median). */
export interface TuneEntry {
  variant: string;
  ms: Record<string, number>;
  /** 'gpu': timestamp queries; 'wall': wall clock around a queue drain. */
  timer: 'gpu' | 'wall';
  /** When it was measured (ISO 8601). */
  at: string;
}

/** A place to keep the cache's text. */
export interface TuneStore {
  /** For messages: the file, or 'localStorage', or 'memory'. */
  readonly where: string;
  /** The stored text, or null when there is none yet. */
  load(): string | null;
  save(text: string): Promise<void>;
}

const FORMAT = 'hnfnet-tune';
const VERSION = 1;

export class MemoryStore implements TuneStore {
  readonly where = 'memory';
  constructor(private text: string | null = null) {}
  load(): string | null {
    return this.text;
  }
  async save(text: string): Promise<void> {
    this.text = text;
  }
}

const LOCAL_KEY = 'hnfnet.tune';

interface WebStorage {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}

/** localStorage, where the page has one (absent in workers and Node; may throw when disabled). */
function localStore(): TuneStore | null {
  let ls: WebStorage | undefined;
  try {
    ls = (globalThis as { localStorage?: WebStorage }).localStorage;
  } catch {
    return null;
  }
  if (!ls || typeof ls.getItem !== 'function') return null;
  const storage = ls;
  return {
    where: 'localStorage',
    load: () => {
      try {
        return storage.getItem(LOCAL_KEY);
      } catch {
        return null;
      }
    },
    save: async (text) => {
      try {
        storage.setItem(LOCAL_KEY, text);
      } catch {
        // Quota or privacy mode: results stay for this session only.
      }
    },
  };
}

export type TuneStoreProvider = () => TuneStore;

let provider: TuneStoreProvider = () => localStore() ?? new MemoryStore();

/** Node's entry registers the file store here (device.node.ts), as it does Dawn. */
export function setTuneStoreProvider(p: TuneStoreProvider): void {
  provider = p;
}

export function defaultTuneStore(): TuneStore {
  return provider();
}

/** The results, read once from a store and written back whole after each tuning. */
export class TuneCache {
  private readonly entries = new Map<string, TuneEntry>();

  /** Reads the store; a cache that cannot be parsed is reported through `warn` and ignored (it is rewritten on the next save). */
  constructor(
    readonly store: TuneStore,
    warn: (msg: string) => void = (m) => console.warn(m),
  ) {
    let text: string | null;
    try {
      text = store.load();
    } catch (e) {
      warn(`hnfnet: cannot read the tuning cache ${store.where} (${(e as Error).message}); tuning starts from the shipped defaults`);
      return;
    }
    if (text === null) return;
    const problem = this.parse(text);
    if (problem) {
      this.entries.clear();
      warn(`hnfnet: ignoring the tuning cache ${store.where}: ${problem}; it is rewritten on the next tuning (delete it, or set HNFNET_TUNE=off, to silence this)`);
    }
  }

  private parse(text: string): string | null {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return `not JSON (${(e as Error).message})`;
    }
    const d = doc as { format?: unknown; version?: unknown; entries?: unknown };
    if (!d || typeof d !== 'object' || d.format !== FORMAT) return `not an ${FORMAT} file`;
    if (d.version !== VERSION) return `version ${JSON.stringify(d.version)}, this hnfnet reads version ${VERSION}`;
    if (!d.entries || typeof d.entries !== 'object') return 'no "entries" object';
    for (const [k, v] of Object.entries(d.entries as Record<string, unknown>)) {
      const e = v as Partial<TuneEntry>;
      const msOk = !!e?.ms && typeof e.ms === 'object' && Object.values(e.ms).every((x) => typeof x === 'number' && Number.isFinite(x));
      if (typeof e?.variant !== 'string' || !msOk || (e.timer !== 'gpu' && e.timer !== 'wall') || typeof e.at !== 'string') return `entry "${k}" is malformed`;
      this.entries.set(k, { variant: e.variant, ms: { ...e.ms }, timer: e.timer, at: e.at });
    }
    return null;
  }

  get(key: string): TuneEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, e: TuneEntry): void {
    this.entries.set(key, e);
  }

  get size(): number {
    return this.entries.size;
  }

  toText(): string {
    const entries = Object.fromEntries([...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return JSON.stringify({ format: FORMAT, version: VERSION, entries }, null, 1) + '\n';
  }

  save(): Promise<void> {
    return this.store.save(this.toText());
  }
}
