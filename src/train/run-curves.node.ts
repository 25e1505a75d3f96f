/** A run's curves from its JSON-lines log: the SVG that `hnfnet plot` and the quick start write. */
import { DataError } from '../data/errors.js';
import { renderSvg, trainingPanels } from './curves.js';
import { readLog, type StartLine, type StepLine, type ValLine } from './run-log.node.js';

export interface RunCurves {
  /** Training loss per step (with epoch means and the Dice and BCE terms), validation Dice per region, learning rate. */
  svg: string;
  steps: number;
  validations: number;
  /** The validation with the best mean Dice, if any. */
  best: ValLine | null;
  /** Lines of the log that are not log entries (left out of the plot); a torn last line is not counted. */
  badLines: number[];
}

/**
 * Reads a run's `log.jsonl` and draws its curves, titled `title` plus the model and the training
 * case count. A missing or unreadable log is the file system's error, as it came; one without
 * entries a DataError.
 */
export async function runCurves(logPath: string, title: string): Promise<RunCurves> {
  const badLines: number[] = [];
  const lines = await readLog(logPath, (n) => badLines.push(n));
  // Nothing to draw is a wrong file, not an empty plot.
  if (lines.length === 0) {
    const n = badLines.length;
    const what = n === 0 ? '' : n === 1 ? ' (1 line that is not an entry)' : ` (${n} lines that are not entries)`;
    throw new DataError(logPath, `holds no log entries${what}; a run's log is RUN/log.jsonl`);
  }
  const steps = lines.filter((l): l is StepLine => l.type === 'step');
  const vals = lines.filter((l): l is ValLine => l.type === 'val');
  const start = lines.find((l): l is StartLine => l.type === 'start');
  const spe = start?.steps_per_epoch;
  const svg = renderSvg(trainingPanels({ steps, vals, ...(spe ? { stepsPerEpoch: spe } : {}) }), {
    title: `${title}${start ? ` — ${start.model}, ${start.train_cases} training cases` : ''}`,
    xLabel: spe ? 'epoch' : 'step',
  });
  const best = vals.reduce<ValLine | null>((b, v) => (!b || v.mean > b.mean ? v : b), null);
  return { svg, steps: steps.length, validations: vals.length, best, badLines };
}

/** "N steps, M validations, best mean Dice D after epoch E": what a message says about the curves. */
export function curvesSummary(c: RunCurves): string {
  return `${c.steps} steps, ${c.validations} validations${c.best ? `, best mean Dice ${c.best.mean.toFixed(4)} after epoch ${c.best.epoch}` : ''}`;
}
