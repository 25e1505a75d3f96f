/**
 * A progress line: redrawn in place on a terminal, printed every few seconds otherwise
 * (CI logs stay readable).
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when not on a TTY. */
  plainEvery?: number;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly t0 = performance.now();
  private lastPlain = -Infinity;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY;
  }

  update(done: number, extra = ''): void {
    const elapsed = (performance.now() - this.t0) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? (this.opts.total - done) / rate : NaN;
    const frac = this.opts.total > 0 ? done / this.opts.total : 1;
    const unit = this.opts.unit ?? 'it';
    const text = `${this.opts.label} ${done}/${this.opts.total} ${unit} ${(100 * frac).toFixed(0)}% | ${fmtTime(elapsed)} elapsed, ETA ${fmtTime(eta)}${extra ? ` | ${extra}` : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else if (elapsed - this.lastPlain >= (this.opts.plainEvery ?? 5) || done === this.opts.total) {
      this.lastPlain = elapsed;
      this.stream.write(`${text}\n`);
    }
  }

  done(message?: string): number {
    const elapsed = (performance.now() - this.t0) / 1000;
    if (this.tty) this.stream.write('\n');
    if (message) this.stream.write(`${message} (${fmtTime(elapsed)})\n`);
    return elapsed;
  }
}
