import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafeTensor } from '../../src/nn/safetensors.js';
import { presetConfig } from '../../src/hnfnet/config.js';
import { CheckpointError, decodeTrainState, readWeightsInfo, type TrainState } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { writeFileAtomic } from '../../src/train/atomic-file.node.js';
import { LAST, LAST_TRAIN, readLastCheckpoint, writeLastCheckpoint } from '../../src/train/checkpoint-files.node.js';
import { checkCaseFolders } from '../../src/train/data.node.js';
import { phantomFiles, writePhantomCase } from '../../src/data/index.node.js';
import { DataError } from '../../src/data/errors.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hnfnet-ckpt-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const f32 = (v: number[]): SafeTensor => ({ dtype: 'F32', shape: [v.length], bytes: new Uint8Array(Float32Array.from(v).buffer) });

/** Files with the metadata the trainer writes, around a one-value tensor (no GPU needed). */
function weights(step: number, run = 'r1'): Uint8Array {
  return encodeSafetensors(new Map([['w', f32([step])]]), {
    format: 'pt',
    hnfnet_config: JSON.stringify(presetConfig('tiny')),
    hnfnet_preset: 'tiny',
    hnfnet_run: run,
    hnfnet_step: String(step),
    hnfnet_epoch: String(step / 2),
    hnfnet_kind: 'last',
  });
}

function train(step: number, run = 'r1'): Uint8Array {
  const state: TrainState = { runId: run, step, epoch: step / 2, stepsPerEpoch: 2, best: null, rng: { tensorGenerator: [1, 2, 3, 4, null] }, config: resolveTrainConfig(), cases: { train: ['a'], val: [] } };
  return encodeSafetensors(new Map([['w.exp_avg', f32([step])], ['w.exp_avg_sq', f32([step])]]), {
    format: 'hnfnet-adam',
    steps: JSON.stringify({ w: step }),
    options: '{}',
    hnfnet_run: run,
    hnfnet_step: String(step),
    hnfnet_train: JSON.stringify(state),
  });
}

describe('checkpoint files', () => {
  it('an atomic write replaces the file and leaves no temp file', async () => {
    const d = await tempDir();
    const p = join(d, 'x.json');
    await writeFileAtomic(p, 'one');
    await writeFileAtomic(p, 'two');
    expect(await readFile(p, 'utf8')).toBe('two');
    expect(await readdir(d)).toEqual(['x.json']);
  });

  it('metadata round trip: step, run, config, generator state with a null spare', () => {
    const info = readWeightsInfo(weights(6), 'w');
    expect([info.step, info.epoch, info.runId, info.preset, info.kind]).toEqual([6, 3, 'r1', 'tiny', 'last']);
    expect(info.config).toEqual(presetConfig('tiny'));
    const s = decodeTrainState(train(6));
    expect([s.step, s.runId, s.rng.tensorGenerator[4]]).toEqual([6, 'r1', null]);
    expect(s.config.optimizer.lr).toBe(1e-3);
  });

  it('a writer killed half-way through its temp file leaves the previous pair readable; the next write sweeps the debris', async () => {
    const d = await tempDir();
    await writeLastCheckpoint(d, weights(2), train(2));
    const w4 = weights(4);
    await writeFile(join(d, `${LAST}.tmp-424242`), w4.subarray(0, w4.byteLength >> 1));
    const got = await readLastCheckpoint(d);
    expect([got.info.step, got.state.step, got.recoveredFrom]).toEqual([2, 2, null]);
    await writeLastCheckpoint(d, weights(4), train(4));
    expect((await readdir(d)).sort()).toEqual([LAST, LAST_TRAIN]);
    expect((await readLastCheckpoint(d)).state.step).toBe(4);
  });

  it('a pair torn between its two renames is completed from the finished temp file', async () => {
    const d = await tempDir();
    await writeFile(join(d, LAST), weights(8));
    await writeFile(join(d, LAST_TRAIN), train(6));
    await writeFile(join(d, `${LAST_TRAIN}.tmp-777`), train(8));
    const got = await readLastCheckpoint(d);
    expect([got.info.step, got.state.step]).toEqual([8, 8]);
    expect(got.recoveredFrom).toBe(join(d, `${LAST_TRAIN}.tmp-777`));
    expect((await readdir(d)).sort()).toEqual([LAST, LAST_TRAIN]);
    expect(decodeTrainState(await readFile(join(d, LAST_TRAIN))).step).toBe(8);
  });

  it('a torn pair with no usable temp file is refused, naming both halves', async () => {
    const d = await tempDir();
    await writeFile(join(d, LAST), weights(8));
    await writeFile(join(d, LAST_TRAIN), train(6));
    const t8 = train(8);
    await writeFile(join(d, `${LAST_TRAIN}.tmp-5`), t8.subarray(0, t8.byteLength - 3));
    await writeFile(join(d, `${LAST_TRAIN}.tmp-6`), train(8, 'other-run'));
    await expect(readLastCheckpoint(d)).rejects.toThrow(CheckpointError);
    await expect(readLastCheckpoint(d)).rejects.toThrow(/weights \(run r1, step 8\) and the training state \(run r1, step 6\) are not from the same checkpoint/);
    await unlink(join(d, LAST));
    await expect(readLastCheckpoint(d)).rejects.toThrow(/no checkpoint to resume from \(last\.safetensors is missing\)/);
  });
});

describe('data checks before training', () => {
  it('reports every bad case at once, by name: missing modality, mismatched shape, no segmentation', async () => {
    const root = await tempDir();
    const good = await writePhantomCase(root, { size: 16, seed: 1, id: 'good' });
    const noT2 = await writePhantomCase(root, { size: 16, seed: 2, id: 'no-t2' });
    await unlink(join(noT2, 'no-t2_t2.nii.gz'));
    const shape = await writePhantomCase(root, { size: 16, seed: 3, id: 'shape' });
    const bigger = phantomFiles({ size: 20, seed: 3, id: 'shape' }).find((f) => f.name === 'shape_flair.nii.gz')!;
    await writeFile(join(shape, bigger.name), bigger.bytes);
    const noSeg = await writePhantomCase(root, { size: 16, seed: 4, id: 'unlabelled' });
    await unlink(join(noSeg, 'unlabelled_seg.nii.gz'));

    expect((await checkCaseFolders([good], { needLabels: true })).map((c) => c.id)).toEqual(['good']);
    let err: unknown;
    try {
      await checkCaseFolders([good, noT2, shape, noSeg], { needLabels: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/3 problems found before training/);
    expect(msg).toMatch(/case no-t2 .*has no t2 image/);
    expect(msg).toContain('case shape: flair image shape_flair.nii.gz has shape [20, 20, 20] but t1 image shape_t1.nii.gz has [16, 16, 16]');
    expect(msg).toMatch(/case unlabelled .*no segmentation file/);
  });
});
