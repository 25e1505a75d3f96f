/**
 * Writes the API reference, docs/api/, from the doc comments of the package's public entries
 * (TypeDoc, Markdown output), so that it cannot drift from the code: test/package/api-docs.test.ts
 * checks that it is current. Run: npm run docs:api
 *
 * Source links are left out on purpose: with them every edit anywhere would move a line number
 * and make the reference stale; without them it changes only when the API or its comments do.
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Application, TSConfigReader } from 'typedoc';
import { ROOT } from './build-browser.js';

export const API_DOCS = path.join(ROOT, 'docs/api');

/** Each public entry, under the name a user imports it by (`exports` in package.json). */
const ENTRIES: Record<string, string> = {
  'src/index.ts': 'hnfnet',
  'src/browser.ts': 'hnfnet/browser',
  'web/segmenter.ts': 'hnfnet/segmenter',
};

/** Generates the reference into `out` (emptied first); returns TypeDoc's warning count. */
export async function generateApiDocs(out: string): Promise<number> {
  const app = await Application.bootstrapWithPlugins(
    {
      entryPoints: Object.keys(ENTRIES).map((f) => path.join(ROOT, f)),
      tsconfig: path.join(ROOT, 'tsconfig.build.json'),
      plugin: ['typedoc-plugin-markdown'],
      out,
      name: 'hnfnet',
      readme: 'none',
      disableSources: true,
      excludePrivate: true,
      excludeInternal: true,
      // Classes and interfaces get a page each; functions, types and constants stay on their module's page.
      outputFileStrategy: 'members',
      membersWithOwnFile: ['Class', 'Interface'],
      hidePageHeader: true,
      validation: { notExported: false, notDocumented: false, invalidLink: true },
    } as Parameters<typeof Application.bootstrapWithPlugins>[0],
    [new TSConfigReader()],
  );
  const project = await app.convert();
  if (!project) throw new Error('docs:api: TypeDoc could not convert the entries (see its messages above)');
  for (const mod of project.children ?? []) {
    // TypeDoc names a module by its path without `.ts` and without a last `/index`.
    const entry = Object.keys(ENTRIES).find((f) => f.replace(/\.ts$/, '').replace(/\/index$/, '') === mod.name);
    if (!entry) throw new Error(`docs:api: TypeDoc module "${mod.name}" is not one of the entries ${Object.keys(ENTRIES).join(', ')}`);
    mod.name = ENTRIES[entry]!;
  }
  await rm(out, { recursive: true, force: true });
  await app.generateOutputs(project);
  return app.logger.warningCount;
}

/**
 * Regenerates `out` as a whole: into a sibling temp folder first, which then takes the old one's
 * place, so that a run cut off midway leaves the old reference, not half a new one.
 */
export async function replaceApiDocs(out: string): Promise<void> {
  const fresh = `${out}.tmp-${process.pid}`;
  const old = `${out}.old-${process.pid}`;
  try {
    await generateApiDocs(fresh);
    await rename(out, old).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(fresh, out);
  } finally {
    await rm(fresh, { recursive: true, force: true });
    await rm(old, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await replaceApiDocs(API_DOCS);
  console.log(`wrote ${path.relative(process.cwd(), API_DOCS) || API_DOCS}`);
}
