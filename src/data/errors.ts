import { HnfnetError } from '../tensor/errors.js';

/**
 * Every data error names the file (or case) it is about, so a failing training run over hundreds of
 * cases points at the culprit instead of at a line of library code.
 */
export class DataError extends HnfnetError {
  override name = 'DataError';
  override readonly code = 'DATA';
  /** The file, case or folder the problem is in. */
  readonly source: string;
  /** What is wrong, without the source prefix. */
  readonly problem: string;

  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.source = source;
    this.problem = problem;
  }
}

/**
 * An output that would replace one of the command's inputs (a case's image or ground truth, a
 * weights file): refused before anything is written, because the input would be lost.
 */
export class OverwriteError extends HnfnetError {
  override name = 'OverwriteError';
  override readonly code = 'OVERWRITE';
}

/** Formats a number list as `[a, b, c]` for messages. */
export function fmtList(values: ArrayLike<number>): string {
  return `[${Array.from(values).join(', ')}]`;
}
