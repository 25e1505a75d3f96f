import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isNiftiPath, selectSegmentations } from './cases.js';

/**
 * The label maps under a folder: its NIfTI files down to `maxDepth` folders deep (a BraTS
 * training folder is one level of case folders; a prediction folder is usually flat), filtered
 * by `selectSegmentations`. Hidden entries are skipped (macOS `._*` files are not NIfTI).
 */
export async function findSegmentations(dir: string, maxDepth = 2): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      // Follow symbolic links, which Dirent reports as neither files nor folders.
      const isDir = e.isSymbolicLink() ? (await stat(p).catch(() => null))?.isDirectory() === true : e.isDirectory();
      if (isDir) {
        if (depth < maxDepth) await walk(p, depth + 1);
      } else if (isNiftiPath(e.name)) found.push(p);
    }
  };
  await walk(dir, 0);
  return selectSegmentations(found);
}
