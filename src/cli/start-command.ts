/**
 * `npm start` / `hnfnet start`: the whole job on the embedded default (phantoms, training, the
 * held-out case segmented and evaluated, outputs in one folder). The work is `runQuickStart`
 * (src/train/quickstart.node.ts); this file parses the flags and draws the progress.
 */
import { resolve } from 'node:path';
import type { Command } from './commands.js';
import { checkKnown, optFlag, optNumber, optString, parseArgs } from './args.js';
import { Progress } from './progress.js';
import type { Region } from '../data/regions.js';
import { runQuickStart, type QuickStartStage } from '../train/quickstart.node.js';

const USAGE = `hnfnet start [--out DIR] [--data DIR] [--model W.safetensors] [--steps N] [--quick]

With no options: generates 9 phantom BraTS cases (64³), trains the tiny HNF-Netv2 on 8 of them,
segments the 9th with sliding windows and 8-fold flip TTA, evaluates it against its labels,
and writes into DIR (default out/quickstart): seg.nii.gz, metrics.json, curves.svg,
overlay.png, and the training run (run/: weights, log). 3–6 minutes on a 2-core CPU with a
software GPU (under 15).
  --data DIR     a BraTS folder instead of phantoms: the last case is held out
  --model W      skip training and segment with these weights
  --steps N      training steps (default 240)
  --quick        a smoke run (tiny data, a few steps), for tests`;

export const command: Command = {
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, ['quick']);
    checkKnown(a, ['out', 'data', 'model', 'steps', 'quick'], 'start');
    const quick = optFlag(a, 'quick');
    const out = resolve(optString(a, 'out') ?? 'out/quickstart');
    const weightsIn = optString(a, 'model');
    const steps = optNumber(a, 'steps') ?? (quick ? 4 : 240);
    const say = (s: string) => console.error(s);
    say(
      `hnfnet start → ${out}\n` +
        (quick ? 'quick smoke run.\n' : 'Expect 3–6 minutes on a 2-core machine without a GPU (under 15), less on a GPU.\n') +
        `steps: data, ${weightsIn ? 'load weights' : `train ${steps} steps`}, segment the held-out case (sliding windows, TTA 8), evaluate, write outputs.`,
    );
    const bars = new Map<QuickStartStage, Progress>();
    const LABELS: Record<QuickStartStage, [string, string]> = { phantoms: ['phantoms', 'cases'], segmenting: ['segmenting', 'net calls'] };
    const dataArg = optString(a, 'data');
    const r = await runQuickStart({
      out,
      quick,
      steps,
      ...(dataArg === undefined ? {} : { data: dataArg }),
      ...(weightsIn === undefined ? {} : { weights: weightsIn }),
      handleSignals: true,
      reporter: {
        update: (stage, done, total) => {
          let bar = bars.get(stage);
          if (!bar) bars.set(stage, (bar = new Progress({ label: LABELS[stage][0], total, unit: LABELS[stage][1] })));
          bar.update(done);
        },
        finish: (stage, message) => void bars.get(stage)?.done(message),
        log: say,
      },
    });
    const metrics = r.metrics;
    if (metrics) {
      const row = (g: Region) => `${g} Dice ${metrics[g].dice.toFixed(3)}, HD95 ${metrics[g].hd95.toFixed(1)} mm`;
      say(`held-out ${r.caseId}: ${row('WT')}; ${row('TC')}; ${row('ET')}`);
    }
    say(`wrote ${r.segmentation}, metrics.json, ${weightsIn ? '' : 'curves.svg, '}overlay.png in ${out}`);
    say(`done in ${(r.seconds / 60).toFixed(1)} min`);
    // The phantom model means nothing on real scans; the shipped weights do (models/README.md).
    say('to segment a real BraTS case with the shipped weights: npm run hnfnet -- infer --case CASE_DIR --out seg.nii.gz');
    return 0;
  },
};
