/**
 * `RUN/log.jsonl`: one JSON object per line, for people and for `hnfnet plot`.
 *   {"type":"start", "step", "steps_per_epoch", "epochs", "resumed", "time", "model", "train_cases", "val_cases"}
 *   {"type":"step", "step", "epoch", "loss", "dice_loss", "bce", "lr", "seconds", "live_bytes"}
 *       step: optimizer steps done (1 for the first); epoch: 0-based epoch the step belongs to
 *   {"type":"val", "step", "epoch", "dice": {"WT","TC","ET"}, "mean", "cases", "seconds", "best"}
 *       epoch: epochs done when validated
 *   {"type":"stop", "step", "reason", "time"}
 * On resume, lines from after the checkpoint (steps that will be redone) are dropped first, so
 * the log reads as one uninterrupted run.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { ValidationResult } from './checkpoint.js';
import type { StepRecord } from './trainer.js';
import { writeFileAtomic } from './atomic-file.node.js';

export interface StartLine {
  type: 'start';
  step: number;
  steps_per_epoch: number;
  epochs: number;
  resumed: boolean;
  time: string;
  model: string;
  train_cases: number;
  val_cases: number;
  /** The weights file a fine-tuning run started from (`--pretrained`), on its first start. */
  pretrained?: string;
}
export interface StepLine {
  type: 'step';
  step: number;
  epoch: number;
  loss: number;
  dice_loss: number;
  bce: number;
  lr: number;
  seconds: number;
  live_bytes: number;
}
export interface ValLine {
  type: 'val';
  step: number;
  epoch: number;
  dice: { WT: number; TC: number; ET: number };
  mean: number;
  cases: number;
  seconds: number;
  best: boolean;
}
export interface StopLine {
  type: 'stop';
  step: number;
  reason: string;
  time: string;
}
/** Kernel variants measured between steps (`hnfnet train --tune`). */
export interface TuneLine {
  type: 'tune';
  step: number;
  /** Keys measured by this call, and still queued (beyond the tuner's time budget). */
  tuned: number;
  pending: number;
  seconds: number;
}
export type LogLine = StartLine | StepLine | ValLine | StopLine | TuneLine;

export function stepLine(r: StepRecord): StepLine {
  return { type: 'step', step: r.step, epoch: r.epoch, loss: r.loss, dice_loss: r.diceLoss, bce: r.bce, lr: r.lr, seconds: r.seconds, live_bytes: r.liveBytes };
}

export function valLine(v: ValidationResult, best: boolean): ValLine {
  return { type: 'val', step: v.step, epoch: v.epoch, dice: { ...v.dice }, mean: v.mean, cases: v.cases, seconds: v.seconds, best };
}

/**
 * Parses a log. A torn last line (the process was killed mid-write) is skipped quietly; any other
 * line that is not a log entry is skipped and reported through `onBad` (line number, 1-based).
 */
export function parseLog(text: string, onBad?: (line: number, text: string) => void): LogLine[] {
  const out: LogLine[] = [];
  const lines = text.split('\n');
  const last = lines.length - 1 - [...lines].reverse().findIndex((l) => l.trim() !== '');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    let v: LogLine | null = null;
    try {
      v = JSON.parse(line) as LogLine;
    } catch {
      // not JSON
    }
    if (v && typeof v === 'object' && typeof v.type === 'string') out.push(v);
    else if (i !== last || text.endsWith('\n')) onBad?.(i + 1, line);
  }
  return out;
}

export async function readLog(path: string, onBad?: (line: number, text: string) => void): Promise<LogLine[]> {
  return parseLog(await readFile(path, 'utf8'), onBad);
}

export class RunLog {
  private constructor(private fh: FileHandle | null) {}

  /** Opens the log for appending; `keepUpTo` drops what lies beyond that step (a resume). */
  static async open(path: string, keepUpTo: number | null): Promise<RunLog> {
    if (keepUpTo !== null) {
      let lines: LogLine[] = [];
      try {
        lines = await readLog(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const kept = lines.filter((l) => l.step <= keepUpTo);
      await writeFileAtomic(path, kept.map((l) => JSON.stringify(l) + '\n').join(''));
    }
    return new RunLog(await open(path, keepUpTo === null ? 'w' : 'a'));
  }

  async append(line: LogLine): Promise<void> {
    await this.fh?.write(JSON.stringify(line) + '\n');
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}
