import { HnfnetError } from '../tensor/errors.js';

/**
 * What a failed command prints: the library's errors (and Node's, such as a missing file) as one
 * line with their code, a stack only on request; anything else is a bug and shows its stack.
 */
export function describeFailure(err: unknown, verbose: boolean): string {
  if (!(err instanceof Error)) return `hnfnet: ${String(err)}`;
  const code = (err as { code?: unknown }).code;
  const line = `hnfnet: ${verbose ? err.message : err.message.replace(/\s*\n\s*/g, ' ')}${typeof code === 'string' ? ` [${code}]` : ''}`;
  const known = err instanceof HnfnetError || typeof code === 'string';
  return verbose || !known ? `${line}\n${err.stack ?? ''}` : line;
}
