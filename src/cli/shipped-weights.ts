/**
 * The weights the package ships (models/, described in models/README.md): what `hnfnet infer`
 * and the demo use when no --model is given. Found by walking up from this module to the
 * package root, so the same lookup works from the TypeScript sources and from a built copy.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HnfnetError } from '../tensor/errors.js';

/** File name under models/ of the default weights. */
export const SHIPPED_WEIGHTS = 'hnfnetv2-web-brats18.safetensors';

function packageRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'hnfnet') return dir;
      } catch {
        // An unreadable package.json on the way up is not ours; keep walking.
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Absolute path of the shipped weights; a clear error where the package has none. */
export function shippedWeightsPath(): string {
  const root = packageRoot();
  const file = root ? path.join(root, 'models', SHIPPED_WEIGHTS) : null;
  if (!file || !existsSync(file)) {
    throw new HnfnetError(`no --model given and the shipped weights (models/${SHIPPED_WEIGHTS}) are not in this installation${root ? ` (${root})` : ''}: pass --model W.safetensors`);
  }
  return file;
}
