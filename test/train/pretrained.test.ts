/** `hnfnet train --pretrained FILE`: a run that starts from a weights file (fine-tuning). */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HnfnetError, type Device } from '../../src/index.js';
import { buildModel } from '../../src/hnfnet/build.js';
import { saveWeights } from '../../src/hnfnet/weights.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { parseArgs } from '../../src/cli/args.js';
import { flagLayer } from '../../src/cli/train-command.js';
import { runTraining } from '../../src/train/run.node.js';
import { readLog, type StartLine } from '../../src/train/run-log.node.js';
import { getDevice } from '../helpers.js';

// lr 0: Adam moves nothing, so the weights after step 1 are the ones the run started from.
const FLAGS = ['--phantoms', '2', '--phantom-size', '32', '--model', 'tiny', '--patch', '16', '--batch', '2', '--epochs', '1', '--steps-per-epoch', '2', '--lr', '0'];
const config = (...more: string[]) => resolveTrainConfig(flagLayer(parseArgs([...FLAGS, ...more])));
const quiet = { write: () => true };

let device: Device;
let root: string;
let file: string;

async function tensorsOf(bytes: Uint8Array): Promise<Map<string, Uint8Array>> {
  return new Map([...decodeSafetensors(bytes).tensors].map(([k, t]) => [k, t.bytes]));
}

/**
 * Names of the tensors whose values differ (by ===: a zero bias that Adam moved by 0 may come
 * back as -0); the EM bases move in every training forward, so they are left out.
 */
function differing(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): string[] {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  const values = (u: Uint8Array) => new Float32Array(u.slice().buffer);
  return [...a]
    .filter(([k, v]) => {
      const [x, y] = [values(v), values(b.get(k)!)];
      return k !== 'ema.mu' && (x.length !== y.length || x.some((e, i) => e !== y[i]));
    })
    .map(([k]) => k);
}

beforeAll(async () => {
  device = await getDevice();
  root = await mkdtemp(join(tmpdir(), 'hnfnet-pretrained-'));
  // Weights of another seed than the runs': a run that ignored the file would start elsewhere.
  const model = buildModel('tiny', { device, seed: 5 });
  file = join(root, 'seed5.safetensors');
  await writeFile(file, await saveWeights(model, model.config, 'tiny'));
  model.dispose();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('train --pretrained', () => {
  it('starts from the file\'s weights, records the file in the start line and config.json; a resume keeps its checkpoint and refuses another file', async () => {
    expect(flagLayer(parseArgs(['--pretrained', 'w.safetensors'])).pretrained).toBe(resolve('w.safetensors'));
    const given = await tensorsOf(new Uint8Array(await readFile(file)));
    const out = join(root, 'tuned');
    const r = await runTraining({ out, config: config('--pretrained', file), device, stream: quiet, stopAfterSteps: 1 });
    expect(r.step).toBe(1);
    const moved = differing(await tensorsOf(new Uint8Array(await readFile(join(out, 'last.safetensors')))), given);
    expect(moved.join(' '), "tensors unlike the file").toBe("");
    // Without the flag the same run starts from its seeded weights, which are not the file's.
    const fresh = join(root, 'fresh');
    await runTraining({ out: fresh, config: config(), device, stream: quiet, stopAfterSteps: 1 });
    expect(differing(await tensorsOf(new Uint8Array(await readFile(join(fresh, 'last.safetensors')))), given).length).toBeGreaterThan(10);

    const starts = () => readLog(join(out, 'log.jsonl')).then((ls) => ls.filter((l): l is StartLine => l.type === 'start'));
    expect((await starts())[0]!.pretrained).toBe(file);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).pretrained).toBe(file);
    expect((await readLog(join(fresh, 'log.jsonl')))[0]).not.toHaveProperty('pretrained');

    // The pretrained file is a setting of the run: a resume may name it again, not another.
    await expect(runTraining({ out, config: config('--pretrained', join(root, 'other.safetensors')), explicit: { pretrained: join(root, 'other.safetensors') }, device, stream: quiet, resume: true })).rejects.toThrow(
      /these differ: pretrained \(run: ".*seed5\.safetensors", given: ".*other\.safetensors"\)/,
    );
    const again = await runTraining({ out, config: config('--pretrained', file), explicit: { pretrained: file }, device, stream: quiet, resume: true });
    expect(again.step).toBe(2);
    const [first, resumed] = await starts();
    expect(first!.resumed).toBe(false);
    expect(resumed!.resumed).toBe(true);
    // The checkpoint's weights won: nothing was loaded from the file on the resume.
    expect(resumed).not.toHaveProperty('pretrained');
  }, 300_000);

  it('refuses weights of another model, naming the file and what differs', async () => {
    const model = buildModel('hnfnetv2-web', { device, seed: 0 });
    const other = join(root, 'web.safetensors');
    await writeFile(other, await saveWeights(model, model.config, 'hnfnetv2-web'));
    model.dispose();
    const run = runTraining({ out: join(root, 'refused'), config: config('--pretrained', other), device, stream: quiet, stopAfterSteps: 1 });
    await expect(run).rejects.toThrow(HnfnetError);
    await expect(run).rejects.toThrow(new RegExp(`--pretrained ${other.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: its weights are of another model than this run trains \\(.*stemChannels: file 8, run 4`));
    const missing = join(root, 'missing.safetensors');
    await expect(runTraining({ out: join(root, 'missing'), config: config('--pretrained', missing), device, stream: quiet, stopAfterSteps: 1 })).rejects.toThrow(`--pretrained ${missing}: cannot read it`);
  }, 120_000);
});
