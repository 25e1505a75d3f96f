/**
 * Writes docs/CLI.md from the commands' own help texts, so the page cannot drift from the
 * code (test/cli/cli-docs.test.ts checks it is current). Run: npx tsx scripts/gen-cli-docs.ts
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from '../src/cli/commands.js';
import { writeFileAtomic } from '../src/data/atomic-write.node.js';

export async function cliDocs(): Promise<string> {
  const parts = [
    '# hnfnet command line',
    '',
    'Every command of `hnfnet` (in a checkout: `npm run hnfnet -- <command> …`; `npm start` is',
    '`hnfnet start`), with its flags. Generated from the commands\' `--help` by',
    '`scripts/gen-cli-docs.ts`; do not edit by hand.',
    '',
  ];
  for (const name of Object.keys(commands).sort()) {
    const entry = commands[name]!;
    const c = await entry.load();
    parts.push(`## ${name}`, '', entry.summary, '', '```', c.usage, '```', '');
  }
  return parts.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'CLI.md');
  await writeFileAtomic(out, await cliDocs());
  console.log(`wrote ${out}`);
}
