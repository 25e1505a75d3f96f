#!/usr/bin/env node
// The installed `hnfnet` runs the compiled CLI with plain node. In a checkout, build first
// (`npm run build`) or run the sources through tsx: `npm run hnfnet -- <command>`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('hnfnet: dist/src/cli/main.js is missing: run `npm run build` (in a checkout, `npm run hnfnet -- <command>` runs the sources)');
  process.exit(1);
}
await import(main.href);
