/** The tuning cache as a JSON file (Node): $HNFNET_TUNE_CACHE, else $XDG_CACHE_HOME/hnfnet/tune.json, else ~/.cache/hnfnet/tune.json. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeOutputFile } from '../data/atomic-write.node.js';
import type { TuneStore } from './tune-cache.js';

export function tuneCachePath(env: Record<string, string | undefined> = process.env): string {
  if (env.HNFNET_TUNE_CACHE) return env.HNFNET_TUNE_CACHE;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hnfnet', 'tune.json');
}

/** A file store; written atomically (a crash mid-write leaves the old file), its folder made on first save. */
export function fileTuneStore(path: string = tuneCachePath()): TuneStore {
  return {
    where: path,
    load(): string | null {
      try {
        return readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    save: (text) => writeOutputFile(path, text),
  };
}
