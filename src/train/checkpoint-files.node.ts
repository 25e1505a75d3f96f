/**
 * A run folder's checkpoints on disk:
 *   last.safetensors         weights + metadata (loadable alone by `hnfnet infer`)
 *   last.train.safetensors   Adam moments + training state (step, RNGs, config, best so far)
 *   best.safetensors         weights of the best validation so far
 *
 * Writing `last`: both temp files are written and fsynced first, then renamed (weights, then
 * training state), then the folder is fsynced. A kill while writing leaves the previous pair
 * untouched. A kill between the two renames (a window of microseconds) leaves new weights with
 * the old training state, and the new training state complete in its temp file: every file
 * carries the run id and step, so reading detects the mismatch and takes the matching temp file.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPair, CheckpointError, decodeTrainState, readWeightsInfo, type TrainState, type WeightsInfo } from './checkpoint.js';
import { commitTemp, syncDir, writeFileAtomic, writeTemp } from './atomic-file.node.js';

export const LAST = 'last.safetensors';
export const LAST_TRAIN = 'last.train.safetensors';
export const BEST = 'best.safetensors';

/**
 * Test hook: HNFNET_TEST_CRASH_DURING_CHECKPOINT=k makes the k-th `last` checkpoint of this
 * process die (SIGKILL) halfway through writing its weights temp file.
 */
const CRASH_ENV = 'HNFNET_TEST_CRASH_DURING_CHECKPOINT';
let lastWrites = 0;

export async function writeLastCheckpoint(dir: string, weights: Uint8Array, train: Uint8Array): Promise<void> {
  lastWrites++;
  const crashAt = Number(process.env[CRASH_ENV] ?? 0);
  const tw = await writeTemp(join(dir, LAST), weights, { crashHalfway: crashAt > 0 && lastWrites === crashAt });
  // A failed second write (a full disk) must not leave the first temp file behind.
  const tt = await writeTemp(join(dir, LAST_TRAIN), train).catch(async (e: unknown) => {
    await unlink(tw).catch(() => {});
    throw e;
  });
  await commitTemp(tw, join(dir, LAST));
  await commitTemp(tt, join(dir, LAST_TRAIN));
  await syncDir(dir);
  await removeStaleTemps(dir);
}

export async function writeBestCheckpoint(dir: string, weights: Uint8Array): Promise<void> {
  await writeFileAtomic(join(dir, BEST), weights);
}

/** Deletes temp files of checkpoints (left by killed writers; ours have all been renamed). */
export async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (/^(last|last\.train|best)\.safetensors\.tmp-\d+$/.test(name)) await unlink(join(dir, name)).catch(() => {});
  }
}

export interface LoadedCheckpoint {
  weights: Uint8Array;
  train: Uint8Array;
  info: WeightsInfo;
  state: TrainState;
  /** The temp file a torn pair was completed from, or null. */
  recoveredFrom: string | null;
}

/**
 * A plain Uint8Array copy of a file. Node's Buffers may sit at an offset inside a shared
 * ArrayBuffer, and safetensors' decoding (bytesToF32) reads `.buffer` from offset 0, so a Buffer
 * handed to it yields the wrong values.
 */
async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await readBytes(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function temps(dir: string, base: string): Promise<string[]> {
  const re = new RegExp(`^${base.replace(/\./g, '\\.')}\\.tmp-\\d+$`);
  return (await readdir(dir)).filter((n) => re.test(n)).map((n) => join(dir, n));
}

/** Reads `last` and its training state, completing a torn pair from a temp file when one matches. */
export async function readLastCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const wPath = join(dir, LAST);
  const tPath = join(dir, LAST_TRAIN);
  const [weights, train] = await Promise.all([readOrNull(wPath), readOrNull(tPath)]);
  if (!weights || !train) throw new CheckpointError(`${dir}: no checkpoint to resume from (${!weights ? LAST : LAST_TRAIN} is missing)`);
  const info = readWeightsInfo(weights, wPath);
  const state = decodeTrainState(train, tPath);
  try {
    checkPair(info, state, dir);
    return { weights, train, info, state, recoveredFrom: null };
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    // A torn pair: whichever half is older may have its newer version complete in a temp file.
    for (const tmp of await temps(dir, LAST_TRAIN)) {
      const bytes = await readBytes(tmp);
      try {
        const s = decodeTrainState(bytes, tmp);
        checkPair(info, s, dir);
        await commitTemp(tmp, tPath);
        await syncDir(dir);
        return { weights, train: bytes, info, state: s, recoveredFrom: tmp };
      } catch {
        // incomplete or from another write: not this one
      }
    }
    for (const tmp of await temps(dir, LAST)) {
      const bytes = await readBytes(tmp);
      try {
        const w = readWeightsInfo(bytes, tmp);
        checkPair(w, state, dir);
        await commitTemp(tmp, wPath);
        await syncDir(dir);
        return { weights: bytes, train, info: w, state, recoveredFrom: tmp };
      } catch {
        // incomplete or from another write
      }
    }
    throw e;
  }
}
