#!/usr/bin/env node
// The package ships TypeScript sources; this launcher registers tsx's loader and runs the CLI in
// this same process, so that an installed `hnfnet` and `npm run hnfnet` execute the very same
// code. No child process: a launcher in between would relay Ctrl-C a second time (and tsx's own
// launcher SIGKILLs a child that does not acknowledge a signal within 30 ms), which turned one
// Ctrl-C of `hnfnet train` into an abort without a checkpoint.
import { register } from 'tsx/esm/api';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

register();
const here = dirname(fileURLToPath(import.meta.url));
await import(pathToFileURL(join(here, '..', 'src', 'cli', 'main.ts')).href);
