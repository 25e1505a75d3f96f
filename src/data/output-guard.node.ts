/** Checks on a command's outputs: never one of its inputs, and "already there" only when complete. */
import { stat } from 'node:fs/promises';
import { OverwriteError } from './errors.js';
import { readNiftiFile, readNiftiHeaderFile } from './nifti-file.node.js';

async function identity(path: string): Promise<string | null> {
  const s = await stat(path).catch(() => null);
  return s ? `${s.dev}:${s.ino}` : null;
}

/**
 * Throws an OverwriteError when an output would replace one of the inputs. Files are compared by
 * device and inode, so another spelling of the path, a symbolic link or a hard link to an input is
 * caught too. `who` (say "hnfnet infer") starts the message.
 */
export async function refuseInputOverwrite(outputs: readonly string[], inputs: readonly string[], who?: string): Promise<void> {
  const ids = new Map<string, string>();
  for (const p of inputs) {
    const id = await identity(p);
    if (id) ids.set(id, p);
  }
  for (const out of outputs) {
    const id = await identity(out);
    const input = id === null ? undefined : ids.get(id);
    if (input !== undefined) {
      throw new OverwriteError(`${who ? `${who}: ` : ''}the output ${out} is the input ${input}; writing it would destroy that input. Choose another output name.`);
    }
  }
}

/**
 * Whether `path` holds a complete, readable NIfTI on the grid of `reference` (a case's image):
 * what `--skip-existing` may leave alone. A truncated or corrupt file (a killed or failed write of
 * an older version) or one of another size is not, and is redone.
 */
export async function isCompleteOutput(path: string, reference: string): Promise<{ ok: boolean; why: string }> {
  if (!(await stat(path).catch(() => null))?.isFile()) return { ok: false, why: 'missing' };
  try {
    const [out, ref] = await Promise.all([readNiftiFile(path), readNiftiHeaderFile(reference)]);
    const want = ref.grid.dims;
    if (out.dims.some((d, i) => d !== want[i])) return { ok: false, why: `its grid [${out.dims.join(', ')}] is not the case's [${want.join(', ')}]` };
    return { ok: true, why: '' };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
}
