import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

describe('Dawn instance lifetime', () => {
  it('survives forced garbage collection with a busy main thread and keeps computing the same result', () => {
    const script = fileURLToPath(new URL('./gc-stress.ts', import.meta.url));
    const tsx = require.resolve('tsx');
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', tsx, script], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('ok');
    expect(lines.filter((l) => l.startsWith('round')).length).toBe(12);
  });
});
