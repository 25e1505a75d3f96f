/**
 * `npm run bench [-- --quick] [--filter text] [--reps n] [--paper] [--out dir] [--torch-device cpu|cuda|none]`:
 * runs every case exported from bench/cases/*.ts (see bench/harness.ts) and writes the results
 * under bench/results/. The GPU bundle (`npm run bench:bundle`) runs the same harness.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchCase } from './types.js';
import { main } from './harness.js';

const HERE = dirname(fileURLToPath(import.meta.url));

async function loadCases(): Promise<BenchCase[]> {
  const dir = join(HERE, 'cases');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const all: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { cases?: BenchCase[] };
    if (mod.cases) all.push(...mod.cases);
  }
  return all;
}

main(loadCases, join(HERE, 'results'));
