import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliDocs } from '../../scripts/gen-cli-docs.js';
import { commands } from '../../src/cli/commands.js';
import { REPO_ROOT } from '../data/helpers.js';

describe('docs/CLI.md', () => {
  it('is current with the commands\' help (regenerate with npx tsx scripts/gen-cli-docs.ts)', async () => {
    expect(readFileSync(join(REPO_ROOT, 'docs', 'CLI.md'), 'utf8')).toBe(await cliDocs());
  });

  it('documents every command', async () => {
    const doc = await cliDocs();
    for (const name of Object.keys(commands)) expect(doc).toContain(`## ${name}`);
  });
});
