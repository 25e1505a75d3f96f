/**
 * Training bundles (python/hnfnet_torch/pack.py, bundle.py) and the trainer's wall-clock budget:
 * phantom cases packed into a bundle unpack to the twin's preprocessing within half the
 * quantisation step; `tiny` trains from the bundle alone; `--minutes` ends a fold's run cleanly
 * (checkpoint, best weights in f32, a validation on the last step) and `--then-all-cases` trains
 * on every case with the rest; a cut-off, corrupt or foreign bundle is refused, naming the file.
 * Skipped without Debian's python3-torch.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLog, type StartLine, type StepLine, type StopLine, type ValLine } from '../../src/train/run-log.node.js';
import { freePort, PYTHON, PYTHON_PKG, run, runTwin, torchMissing, writePhantoms } from './python.js';

const missing = torchMissing();
const glooMissing = missing ?? torchMissing({ gloo: true });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** dtype of every tensor in a safetensors file's header. */
function safetensorsDtypes(file: string): string[] {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype?: string }>;
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([, v]) => v.dtype!);
}

const tinyRun = ['--model', 'tiny', '--patch', '16', '--workers', '0'];

describe.skipIf(missing !== null)(`training bundles${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let dir = '';
  let bundle = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-twin-bundle-'));
    dirs.push(dir);
    writePhantoms(path.join(dir, 'data'), [1, 2, 3], 32);
    bundle = path.join(dir, 'three.tar');
    const r = await runTwin('pack', ['--data', path.join(dir, 'data'), '--out', bundle, '--step', '1/32']);
    if (r.code !== 0) throw new Error(`pack failed (${r.code}):\n${r.stderr}`);
    expect(r.stdout).toMatch(/three\.tar: 3 case\(s\), [\d.]+ MB \(\d+ bytes\), images within 0\.0156 of the float32 preprocessing/);
  });

  it('unpacks to data.preprocess within step / 2, masks and labels exact, with the box that uncrops it', async () => {
    const code = `
import json, sys, numpy as np
from hnfnet_torch.bundle import Bundle
from hnfnet_torch.data import find_cases, preprocess_with_box
b = Bundle(sys.argv[1]); cases = find_cases(sys.argv[2]); out = {'manifest': {k: v for k, v in b.manifest.items() if k != 'cases'}, 'cases': {}}
for cid, c in b.cases.items():
    img, mask, lab, box, shape = preprocess_with_box(cases[cid])
    i2, m2, l2 = b.load(cid)
    out['cases'][cid] = {'err': float(np.abs(i2 - img).max()), 'mask': bool((m2 == mask).all()), 'labels': bool((l2 == lab).all()),
        'outside_zero': bool((i2[:, ~m2] == 0).all()), 'box': [[s.start, s.stop] for s in box], 'shape': list(shape), 'entry': c}
print(json.dumps(out))`;
    const r = await run(PYTHON, ['-c', code, bundle, path.join(dir, 'data')], { cwd: PYTHON_PKG });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as {
      manifest: { format: string; step: number; max_abs_error: number };
      cases: Record<string, { err: number; mask: boolean; labels: boolean; outside_zero: boolean; box: number[][]; shape: number[]; entry: Record<string, unknown> }>;
    };
    expect(res.manifest).toMatchObject({ format: 'hnfnet-bundle-1', step: 1 / 32 });
    expect(Object.keys(res.cases)).toHaveLength(3);
    for (const [cid, c] of Object.entries(res.cases)) {
      expect(c.err, cid).toBeLessThanOrEqual(1 / 64);
      expect(c.err, cid).toBeGreaterThan(0); // really quantised: the check can tell
      expect([c.mask, c.labels, c.outside_zero], cid).toEqual([true, true, true]);
      expect(c.entry).toMatchObject({ id: cid, box: c.box, source_shape: c.shape, labels: true, max_abs_error: c.err });
      expect(c.entry.shape).toEqual(c.box.map(([a, b]) => b! - a!));
      expect((c.entry.sources as { kind: string }[]).map((s) => s.kind)).toEqual(['t1', 't1ce', 't2', 'flair', 'seg']);
    }
    expect(res.manifest.max_abs_error).toBe(Math.max(...Object.values(res.cases).map((c) => c.err)));
  });

  it('trains tiny for two steps from the bundle alone', async () => {
    const out = path.join(dir, 'two-steps');
    const r = await runTwin('train', ['--bundle', bundle, '--out', out, ...tinyRun, '--batch', '2', '--epochs', '1', '--steps-per-epoch', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/unpacked 3 case\(s\) into \S+preprocessed in [\d.]+ s \(0 already there\)/);
    expect(r.stderr).toMatch(/finished at step 2\/2: 2 step\(s\) this session, [\d.e+-]+ steps\/s/);
    const lines = parseLog(readFileSync(path.join(out, 'log.jsonl'), 'utf8'));
    expect(lines.map((l) => l.type)).toEqual(['start', 'step', 'step', 'stop']);
    expect(lines[0]).toMatchObject({ train_cases: 3, val_cases: 0 });
    for (const l of lines.filter((x): x is StepLine => x.type === 'step')) expect(Number.isFinite(l.loss) && l.loss > 0).toBe(true);
    expect(existsSync(path.join(out, 'last.safetensors'))).toBe(true);
    // The split names the cases' source files, as a run from --data does.
    const split = JSON.parse(readFileSync(path.join(out, 'splits.json'), 'utf8')) as { training: { id: string; image: string[] }[] };
    expect(split.training).toHaveLength(3);
    expect(split.training[0]!.image.map((f) => f.replace(/^.*_/, ''))).toEqual(['t1.nii.gz', 't1ce.nii.gz', 't2.nii.gz', 'flair.nii.gz']);
  });

  it('--minutes ends the fold run cleanly with a validation on its last step, then --then-all-cases trains on every case', async () => {
    const out = path.join(dir, 'budget');
    const minutes = 0.1;
    const t0 = Date.now();
    const r = await runTwin('train', ['--bundle', bundle, '--out', out, ...tinyRun, '--batch', '1', '--fold', '0', '--folds', '3',
      '--epochs', '1000', '--val-every', '1000', '--minutes', String(minutes), '--then-all-cases']);
    const wall = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    // Budget, plus the final validation, checkpoints and torch's start-up.
    expect(wall).toBeLessThan(minutes * 60 + 60);
    for (const [run, trainCases, valCases] of [[out, 2, 1], [path.join(out, 'all-cases'), 3, 0]] as const) {
      for (const f of ['last.safetensors', 'last.train.pt', 'log.jsonl']) expect(existsSync(path.join(run, f)), `${run}/${f}`).toBe(true);
      const lines = parseLog(readFileSync(path.join(run, 'log.jsonl'), 'utf8'));
      const stop = lines.at(-1) as StopLine;
      expect(lines[0]).toMatchObject({ type: 'start', train_cases: trainCases, val_cases: valCases } satisfies Partial<StartLine>);
      expect(stop).toMatchObject({ type: 'stop', reason: 'time-budget' });
      expect(stop.step).toBeGreaterThan(0);
      expect(stop.step).toBeLessThan(1000 * 2);
      expect(lines.filter((l) => l.type === 'step')).toHaveLength(stop.step);
      const vals = lines.filter((l): l is ValLine => l.type === 'val');
      if (valCases) {
        // Not a validation epoch (every 1000), yet the fold was validated on the final weights.
        expect(vals.map((v) => v.step)).toEqual([stop.step]);
        expect(vals[0]).toMatchObject({ cases: 1, best: true });
        expect(vals[0]!.mean).toBeCloseTo((vals[0]!.dice.WT + vals[0]!.dice.TC + vals[0]!.dice.ET) / 3, 12);
        // Weights in f32 whatever the autocast (bf16 on CUDA with --amp).
        expect(new Set(safetensorsDtypes(path.join(run, 'best.safetensors')))).toEqual(new Set(['F32']));
      } else {
        expect(vals).toEqual([]);
        expect(existsSync(path.join(run, 'best.safetensors'))).toBe(false);
      }
      expect(new Set(safetensorsDtypes(path.join(run, 'last.safetensors')))).toEqual(new Set(['F32']));
    }
    // The second run read the first one's cache.
    expect(r.stderr).toMatch(/unpacked 0 case\(s\) into \S+budget\/preprocessed in [\d.]+ s \(3 already there\)/);
    expect(r.stderr.match(/time-budget at step \d+\/\d+: \d+ step\(s\) this session, [\d.e+-]+ steps\/s/g)).toHaveLength(2);
  });

  it.skipIf(glooMissing !== null)('two gloo ranks stop at the same step when one of them runs out of time', async () => {
    // Rank 0 has 3 s, rank 1 five minutes: both stop together (else a collective would hang) and
    // validate the held-out case together.
    const out = path.join(dir, 'ranks');
    const port = String(await freePort());
    const args = (minutes: string) => ['train', ['--bundle', bundle, '--out', out, ...tinyRun, '--batch', '2', '--fold', '0', '--folds', '3', '--epochs', '1000', '--minutes', minutes]] as const;
    const done = await Promise.all(['0.05', '5'].map((minutes, rank) =>
      runTwin(...args(minutes), { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: '2' })));
    for (const [rank, d] of done.entries()) expect(d.code, `rank ${rank}: ${d.stderr}`).toBe(0);
    const lines = parseLog(readFileSync(path.join(out, 'log.jsonl'), 'utf8'));
    const stop = lines.at(-1) as StopLine;
    expect(stop).toMatchObject({ type: 'stop', reason: 'time-budget' });
    expect(lines.filter((l) => l.type === 'val').map((l) => (l as ValLine).step)).toEqual([stop.step]);
    expect(done[0]!.stderr).toMatch(new RegExp(`time-budget at step ${stop.step}/1000`));
  });

  it('refuses a cut-off, corrupt or foreign bundle, naming the file (and the member)', async () => {
    const bytes = readFileSync(bundle);
    const cut = path.join(dir, 'cut.tar');
    // Inside the manifest, the last member: its data follows its 512-byte header, which starts with its name.
    writeFileSync(cut, bytes.subarray(0, bytes.indexOf('manifest.json') + 512 + 100));
    const flipped = Buffer.from(bytes);
    flipped[512 + 200]! ^= 0xff; // inside the first case's member, which follows its 512-byte header
    const corrupt = path.join(dir, 'corrupt.tar');
    writeFileSync(corrupt, flipped);
    const foreign = path.join(dir, 'foreign.tar');
    const phantom = path.join(dir, 'data', 'phantom-1');
    copyFileSync(path.join(phantom, readdirSync(phantom).sort()[0]!), foreign); // a NIfTI file
    const train = (b: string, name: string) => runTwin('train', ['--bundle', b, '--out', path.join(dir, name), ...tinyRun, '--epochs', '1', '--steps-per-epoch', '1']);
    const [rCut, rCorrupt, rForeign] = await Promise.all([train(cut, 'r-cut'), train(corrupt, 'r-corrupt'), train(foreign, 'r-foreign')]);
    for (const r of [rCut, rCorrupt, rForeign]) expect(r.code).toBe(1);
    expect(rCut.stderr).toMatch(/hnfnet_torch\.train: error: \S+cut\.tar: not a readable training bundle \(a tar file\): unexpected end of data/);
    expect(rCorrupt.stderr).toMatch(/hnfnet_torch\.train: error: \S+corrupt\.tar: cases\/\S+\.npz\.bz2: corrupt \(its SHA-256 is not the one in manifest\.json\)/);
    expect(rForeign.stderr).toMatch(/hnfnet_torch\.train: error: \S+foreign\.tar: not a readable training bundle \(a tar file\)/);
    for (const r of [rCut, rCorrupt, rForeign]) expect(r.stderr).not.toMatch(/Traceback/);
  });
});

