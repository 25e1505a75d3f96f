/**
 * One recipe file for both trainers: configs/brats18-web.json and its second cycle
 * configs/brats18-web-finetune.json (the shipped weights' recipe, models/README.md) read by `hnfnet train --config` and by the twin's `--config`, setting for
 * setting; and the twin refusing what it cannot honour instead of training something else.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveFilePaths } from '../../src/cli/train-command.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { PYTHON_PKG, ROOT, run, PYTHON, torchMissing } from './python.js';

const RECIPES = ['configs/brats18-web.json', 'configs/brats18-web-finetune.json'].map((f) => path.join(ROOT, f));
const missing = torchMissing();
const tmp = mkdtempSync(path.join(tmpdir(), 'hnfnet-recipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The twin's resolved options for `--config FILE` (and nothing else but --data/--out). */
async function twinOptions(file: string): Promise<{ ok: true; args: Record<string, unknown> } | { ok: false; error: string }> {
  const code = `import json, sys
from hnfnet_torch.train import parse_args
try:
    a, _ = parse_args(['--config', sys.argv[1], '--data', sys.argv[2], '--out', sys.argv[2]])
    print(json.dumps({'ok': True, 'args': vars(a)}))
except (ValueError, SystemExit) as e:
    print(json.dumps({'ok': False, 'error': str(e)}))`;
  const r = await run(PYTHON, ['-c', code, file, tmp], { cwd: PYTHON_PKG });
  if (r.code !== 0) throw new Error(`python failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: true; args: Record<string, unknown> } | { ok: false; error: string };
}

describe.each(RECIPES)('the training recipe file %s', (RECIPE) => {
  it('hnfnet train reads it: paths inside it are relative to the file', () => {
    const layer = JSON.parse(readFileSync(RECIPE, 'utf8')) as unknown;
    resolveFilePaths(layer, path.dirname(RECIPE));
    const c = resolveTrainConfig(layer, { data: { source: tmp } });
    expect(c.model).toBe('hnfnetv2-web');
    expect(c.folds.splitFile).toBe(path.join(ROOT, 'configs/brats18-splits.json'));
    expect(c.patch).toEqual([96, 96, 96]);
    expect(c.validation.window).toEqual([128, 128, 128]);
    // Every case of the 15 in exactly one of five folds of three.
    const split = JSON.parse(readFileSync(c.folds.splitFile!, 'utf8')) as { training: { fold: number; id: string }[] };
    expect(new Set(split.training.map((e) => e.id)).size).toBe(15);
    expect([0, 1, 2, 3, 4].map((k) => split.training.filter((e) => e.fold === k).length)).toEqual([3, 3, 3, 3, 3]);
  });

  it.skipIf(missing !== null)(`the twin reads it into the same settings${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    const layer = JSON.parse(readFileSync(RECIPE, 'utf8')) as unknown;
    resolveFilePaths(layer, path.dirname(RECIPE));
    const c = resolveTrainConfig(layer, { data: { source: tmp } });
    const r = await twinOptions(RECIPE);
    if (!r.ok) throw new Error(r.error);
    expect(r.args).toMatchObject({
      model: c.model,
      seed: c.seed,
      epochs: c.epochs,
      steps_per_epoch: c.stepsPerEpoch,
      batch: c.batch,
      accumulate: c.accumulate,
      patch: c.patch,
      lr: c.optimizer.lr,
      weight_decay: c.optimizer.weightDecay,
      warmup_epochs: c.schedule.warmupEpochs,
      power: c.schedule.power,
      foreground_prob: c.data.foregroundProb,
      no_augment: false,
      folds: c.folds.count,
      split_file: c.folds.splitFile,
      val_every: c.validation.every,
      val_window: c.validation.window,
      val_overlap: c.validation.overlap,
      val_tta: c.validation.tta,
      val_threshold: c.validation.threshold,
      data: tmp,
    });
  });

});

describe('the twin', () => {
  it.skipIf(missing !== null)('the twin refuses settings it cannot honour, naming the key', async () => {
    const cases: [object, RegExp][] = [
      [{ lossy: 1 }, /unknown key "lossy"/],
      [{ loss: { bceWeight: 0.5 } }, /loss = .*the twin runs only the default/],
      [{ data: { augment: { flip: { prob: 0.9 } } } }, /data\.augment = .*the twin runs only the default/],
      [{ data: { source: 'phantom:8' } }, /data\.source "phantom:8": the twin trains on BraTS folders only/],
      [{ optimizer: { betas: [0.9, 0.99] } }, /optimizer\.betas = \[0\.9, 0\.99\] is not supported/],
    ];
    for (const [cfg, want] of cases) {
      const f = path.join(tmp, 'bad.json');
      writeFileSync(f, JSON.stringify(cfg));
      const r = await twinOptions(f);
      expect(r.ok, JSON.stringify(cfg)).toBe(false);
      expect(!r.ok && r.error, JSON.stringify(cfg)).toMatch(want);
    }
    // A partial augmentation equal to the defaults, and augmentation off, are fine.
    writeFileSync(path.join(tmp, 'ok.json'), JSON.stringify({ data: { augment: null } }));
    expect(await twinOptions(path.join(tmp, 'ok.json'))).toMatchObject({ ok: true, args: { no_augment: true } });
    // Activation checkpointing changes memory, not results: the twin honours it with torch.utils.checkpoint.
    writeFileSync(path.join(tmp, 'ck.json'), JSON.stringify({ activationCheckpointing: 'pmf' }));
    expect(await twinOptions(path.join(tmp, 'ck.json'))).toMatchObject({ ok: true, args: { activation_checkpointing: 'pmf' } });
  });
});
