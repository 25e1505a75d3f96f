/**
 * Training progress for a person: on a terminal, one line redrawn in place (\r) per epoch with
 * a bar, loss, learning rate, speed and time left; otherwise (a log file, CI) plain lines every
 * few steps and at each epoch's end. Other messages clear the bar first, so nothing interleaves.
 */
import type { StepRecord } from './trainer.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export class TrainProgress {
  private barShown = false;
  /** Smoothed seconds per step (the first steps compile pipelines and would skew a plain mean). */
  private secPerStep: number | null = null;
  private epochLoss = 0;
  private epochSteps = 0;
  readonly tty: boolean;
  private readonly lineEvery: number;

  constructor(
    private readonly out: ProgressStream,
    private readonly epochs: number,
    private readonly stepsPerEpoch: number,
  ) {
    this.tty = !!out.isTTY;
    this.lineEvery = Math.max(1, Math.round(stepsPerEpoch / 10));
  }

  /** Prints a line of its own (clearing the bar). */
  message(text: string): void {
    this.clear();
    this.out.write(text + '\n');
  }

  step(r: StepRecord): void {
    this.secPerStep = this.secPerStep === null || r.step <= 2 ? r.seconds : 0.9 * this.secPerStep + 0.1 * r.seconds;
    const inEpoch = r.step - r.epoch * this.stepsPerEpoch;
    if (inEpoch === 1) {
      this.epochLoss = 0;
      this.epochSteps = 0;
    }
    this.epochLoss += r.loss;
    this.epochSteps++;
    const total = this.epochs * this.stepsPerEpoch;
    const left = (total - r.step) * this.secPerStep;
    const epochLeft = (this.stepsPerEpoch - inEpoch) * this.secPerStep;
    const stats = `loss ${r.loss.toFixed(4)} (dice ${r.diceLoss.toFixed(3)}, bce ${r.bce.toFixed(3)})  lr ${r.lr.toExponential(2)}  ${this.secPerStep.toFixed(2)} s/step`;
    const epochTag = `epoch ${r.epoch + 1}/${this.epochs}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((inEpoch / this.stepsPerEpoch) * width);
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
      let line = `${epochTag} [${bar}] ${inEpoch}/${this.stepsPerEpoch}  ${stats}  ETA ${formatDuration(epochLeft)} (run ${formatDuration(left)})`;
      const cols = this.out.columns ?? 0;
      if (cols > 20 && line.length >= cols) line = line.slice(0, cols - 1);
      this.out.write(`\r\x1b[K${line}`);
      this.barShown = true;
    } else if (inEpoch % this.lineEvery === 0 || inEpoch === this.stepsPerEpoch) {
      this.out.write(`${epochTag} step ${inEpoch}/${this.stepsPerEpoch} (${r.step}/${total})  ${stats}  run left ${formatDuration(left)}\n`);
    }
    if (inEpoch === this.stepsPerEpoch) this.message(`epoch ${r.epoch + 1}/${this.epochs} done: mean loss ${(this.epochLoss / this.epochSteps).toFixed(4)}`);
  }

  clear(): void {
    if (this.barShown) this.out.write('\r\x1b[K');
    this.barShown = false;
  }
}
