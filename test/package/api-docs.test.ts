/** docs/api is the TypeDoc reference of the public entries; it must match their doc comments. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_DOCS, generateApiDocs } from '../../scripts/gen-api-docs.js';
import { ROOT } from '../../scripts/build-browser.js';

const listFiles = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).sort();

describe('docs/api', () => {
  it('is current with the public entries and their doc comments (regenerate with npm run docs:api)', async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'hnfnet-api-docs-'));
    try {
      await generateApiDocs(path.join(fresh, 'api'));
      const want = listFiles(path.join(fresh, 'api'));
      expect(want).toContain('README.md');
      expect(listFiles(API_DOCS)).toEqual(want);
      for (const f of want) expect(readFileSync(path.join(API_DOCS, f), 'utf8'), f).toBe(readFileSync(path.join(fresh, 'api', f), 'utf8'));
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  }, 300_000);

  it('is linked from the README', () => {
    expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toMatch(/\]\(docs\/api\/README\.md\)/);
  });
});
