import { describe, expect, it } from 'vitest';
import { configDifferences, DEFAULT_TRAIN_CONFIG, overrideFromAssignment, resolveTrainConfig } from '../../src/train/config.js';
import { foldPartition, foldsFromSplit, kFoldAssignment, parseSplitFile } from '../../src/train/splits.js';
import { niceTicks, renderSvg, trainingPanels } from '../../src/train/curves.js';
import { flagLayer, flatten } from '../../src/cli/train-command.js';
import { parseArgs } from '../../src/cli/args.js';
import { parseLog } from '../../src/train/run-log.node.js';

describe('training configuration', () => {
  it('defaults to the paper recipe', () => {
    const c = resolveTrainConfig();
    expect(c.optimizer).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-5 });
    expect(c.schedule).toEqual({ warmupEpochs: 5, power: 0.9, perStep: true });
    expect([c.epochs, c.batch, c.accumulate]).toEqual([250, 4, 1]);
    expect(c.patch).toEqual([128, 128, 128]);
    expect(c.loss).toEqual({ diceWeight: 1, bceWeight: 1, diceWType: 'square', smooth: 1e-5 });
    expect(c.folds).toEqual({ count: 5, fold: null, seed: 0, splitFile: null });
    expect(c.data.augment?.rotate).toEqual({ prob: 0.5, maxDegrees: 10 });
    expect(c.model).toBe('hnfnetv2');
  });

  it('layers merge deeply in order (file, flags, --set) and unknown keys are errors', () => {
    const file = { optimizer: { lr: 5e-4 }, patch: 64, validation: { window: 96 }, data: { augment: { flip: { prob: 0.25 } } } };
    const c = resolveTrainConfig(file, { optimizer: { weightDecay: 0 } }, overrideFromAssignment('optimizer.betas=[0.8,0.99]'), overrideFromAssignment('model=tiny'));
    expect(c.optimizer).toEqual({ lr: 5e-4, betas: [0.8, 0.99], eps: 1e-8, weightDecay: 0 });
    expect(c.patch).toEqual([64, 64, 64]);
    expect(c.validation.window).toEqual([96, 96, 96]);
    expect(c.data.augment?.flip.prob).toBe(0.25);
    expect(c.data.augment?.rotate.maxDegrees).toBe(10);
    expect(c.model).toBe('tiny');
    // The defaults are not mutated by a merge.
    expect(DEFAULT_TRAIN_CONFIG.optimizer.lr).toBe(1e-3);
    expect(() => resolveTrainConfig({ optimiser: { lr: 1 } })).toThrow(/unknown key "optimiser"/);
    expect(() => resolveTrainConfig({ optimizer: { learningRate: 1 } })).toThrow(/unknown key "optimizer\.learningRate"/);
    expect(() => resolveTrainConfig({ batch: 4, accumulate: 3 })).toThrow(/multiple of accumulate/);
    expect(() => resolveTrainConfig({ folds: { fold: 5 } })).toThrow(/folds\.fold must be an integer in \[0, 4\]/);
    expect(() => resolveTrainConfig({ model: 'resnet' })).toThrow(/unknown model preset "resnet"/);
    // Augmentation off, then partly back on: the rest comes from the defaults.
    const off = resolveTrainConfig({ data: { augment: null } });
    expect(off.data.augment).toBeNull();
    expect(resolveTrainConfig({ data: { augment: null } }, { data: { augment: { flip: { prob: 1 } } } }).data.augment?.intensityScale.max).toBe(1.1);
  });

  it('command-line flags map onto config paths; differences are reported by dotted path', () => {
    const layer = flagLayer(parseArgs(['--phantoms', '6', '--model', 'tiny', '--fold', '2', '--patch', '32,32,48', '--lr', '3e-3', '--batch', '2', '--no-augment'], ['no-augment']));
    expect(layer).toEqual({ data: { source: 'phantom:6', augment: null }, model: 'tiny', folds: { fold: 2 }, patch: [32, 32, 48], optimizer: { lr: 3e-3 }, batch: 2 });
    expect(flatten(layer)).toEqual({ 'data.source': 'phantom:6', 'data.augment': null, model: 'tiny', 'folds.fold': 2, patch: [32, 32, 48], 'optimizer.lr': 3e-3, batch: 2 });
    const a = resolveTrainConfig(layer);
    const b = resolveTrainConfig(layer, { epochs: 10, optimizer: { lr: 1e-3 } });
    expect(configDifferences(a, b).sort()).toEqual(['epochs', 'optimizer.lr']);
  });

  it('activation checkpointing: off by default, "pmf" from the flag, refused for the U-Net and for unknown modes', () => {
    expect(resolveTrainConfig().activationCheckpointing).toBe('none');
    const layer = flagLayer(parseArgs(['--model', 'tiny', '--activation-checkpointing', 'pmf']));
    expect(layer).toEqual({ model: 'tiny', activationCheckpointing: 'pmf' });
    expect(resolveTrainConfig(layer).activationCheckpointing).toBe('pmf');
    expect(() => resolveTrainConfig({ activationCheckpointing: 'all' })).toThrow(/activationCheckpointing must be "none" or "pmf", got "all"/);
    expect(() => resolveTrainConfig({ model: 'unet3d', activationCheckpointing: 'pmf' })).toThrow(/3D U-Net has no PMF modules/);
  });
});

describe('cross-validation splits', () => {
  const ids = Array.from({ length: 23 }, (_, i) => `case-${String(i).padStart(3, '0')}`);

  it('a seeded assignment: balanced folds, independent of listing order, different per seed', () => {
    const f = kFoldAssignment(ids, 5, 7);
    const sizes = [0, 1, 2, 3, 4].map((k) => f.filter((x) => x === k).length);
    expect(sizes.sort()).toEqual([4, 5, 5, 5, 4].sort());
    const reversed = [...ids].reverse();
    const g = kFoldAssignment(reversed, 5, 7);
    reversed.forEach((id, i) => expect(g[i]).toBe(f[ids.indexOf(id)]));
    expect(kFoldAssignment(ids, 5, 8)).not.toEqual(f);
    const { train, val } = foldPartition(f, 3);
    expect(val.every((i) => f[i] === 3)).toBe(true);
    expect(train.length + val.length).toBe(23);
    expect(foldPartition(f, null)).toEqual({ train: ids.map((_, i) => i), val: [] });
  });

  it('reads MONAI-style split files, matching cases by folder or file-name id', () => {
    const text = JSON.stringify({
      training: [
        { fold: 0, image: ['TrainingData/BraTS2021_00000/BraTS2021_00000_flair.nii.gz', 'TrainingData/BraTS2021_00000/BraTS2021_00000_t1.nii.gz'], label: 'TrainingData/BraTS2021_00000/BraTS2021_00000_seg.nii.gz' },
        { fold: 1, image: ['x/Brats18_A_1_t1.nii.gz'], label: 'x/Brats18_A_1_seg.nii.gz' },
        { fold: 4, image: ['BraTS-GLI-00002-000-t1n.nii.gz'] },
        { fold: 2, id: 'custom-case' },
        { fold: 3, image: ['TrainingData/BraTS2021_99999/BraTS2021_99999_t1.nii.gz'] },
      ],
    });
    const entries = parseSplitFile(text, 'split.json');
    const m = foldsFromSplit(entries, ['BraTS2021_00000', 'Brats18_A_1_dir', 'BraTS-GLI-00002-000', 'custom-case'], [[], ['Brats18_A_1'], [], []], 5, 'split.json');
    expect(m.folds).toEqual([0, 1, 4, 2]);
    expect(m.unmatched).toBe(1);
    // A bare list works as well.
    expect(parseSplitFile(JSON.stringify([{ fold: 1, id: 'a' }]))[0]!.fold).toBe(1);
    expect(() => foldsFromSplit(entries, ['BraTS2021_00000', 'missing-case'], [], 5, 'split.json')).toThrow(/split\.json: 1 case of the data set is not in it: missing-case/);
    expect(() => foldsFromSplit(entries, ['BraTS2021_00000', 'Brats18_A_1', 'BraTS-GLI-00002-000', 'custom-case'], [], 3, 'split.json')).toThrow(/fold 4 is outside 0\.\.2/);
    expect(() => parseSplitFile('{"training": [{"image": ["a_t1.nii"]}]}', 's.json')).toThrow(/s\.json: entry 0 has no integer "fold"/);
    expect(() => parseSplitFile('{"validation": []}', 's.json')).toThrow(/expected \{"training"/);
    const dup = parseSplitFile(JSON.stringify([{ fold: 0, id: 'a' }, { fold: 1, id: 'a' }]));
    expect(() => foldsFromSplit(dup, ['a'])).toThrow(/case a is listed in folds 0 and 1/);
  });
});

describe('training curves and the log', () => {
  it('nice ticks are round numbers spanning the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 250, 8)).toEqual([0, 50, 100, 150, 200, 250]);
    expect(niceTicks(0.37, 1.9)).toEqual([0.5, 1, 1.5]);
  });

  it('the SVG holds one polyline per drawn series, the legend, and escapes text', () => {
    const steps = Array.from({ length: 40 }, (_, i) => ({ step: i + 1, loss: 2 - i / 40, dice_loss: 1 - i / 80, bce: 1 - i / 80, lr: 1e-3 * (1 - i / 40) }));
    const vals = [10, 20, 30, 40].map((s, i) => ({ step: s, dice: { WT: 0.2 * (i + 1), TC: 0.1 * (i + 1), ET: 0.05 * (i + 1) }, mean: 0.35 * (i + 1) / 3 }));
    const svg = renderSvg(trainingPanels({ steps, vals, stepsPerEpoch: 10 }), { title: 'run <a&b>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('run &lt;a&amp;b&gt;');
    expect((svg.match(/<polyline /g) ?? []).length).toBe(4 + 4 + 1);
    for (const name of ['loss (epoch mean)', 'WT', 'TC', 'ET', 'mean', 'lr']) expect(svg).toContain(`>${name}</text>`);
    // Epoch means: 4 epochs of 10 steps → the bold loss line has 4 points.
    const bold = /<polyline fill="none" stroke="#1f77b4" stroke-width="2.2"[^>]*points="([^"]+)"/.exec(svg)!;
    expect(bold[1]!.split(' ').length).toBe(4);
    const empty = renderSvg(trainingPanels({ steps: [], vals: [] }));
    expect(empty).toContain('no validation yet');
  });

  it('a torn last line of the log is skipped', () => {
    const lines = parseLog('{"type":"step","step":1}\n{"type":"val","step":1}\n{"type":"st');
    expect(lines.map((l) => l.type)).toEqual(['step', 'val']);
  });
});
