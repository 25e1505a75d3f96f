import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from '../data/helpers.js';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');

describe('examples/', () => {
  const files = readdirSync(join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
  it('has examples', () => expect(files.length).toBeGreaterThanOrEqual(2));
  for (const f of files) {
    it(`${f} runs and prints a result`, () => {
      const r = spawnSync(process.execPath, [tsx, join(REPO_ROOT, 'examples', f)], { encoding: 'utf8', timeout: 240_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(0);
      if (f === 'phantom-segment.ts') {
        const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { WT: number; windows: number };
        expect(out.windows).toBeGreaterThan(0);
        expect(out.WT).toBeGreaterThanOrEqual(0);
      }
    }, 300_000);
  }
});
