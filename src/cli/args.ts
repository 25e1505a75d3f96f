import { HnfnetError } from '../tensor/errors.js';

/** A small, strict argv parser: `--name value`, `--flag`, `--name=value`, repeated names collect. */
export interface ParsedArgs {
  positional: string[];
  options: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], flags: readonly string[] = []): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  const push = (k: string, v: string) => {
    const list = options.get(k) ?? [];
    list.push(v);
    options.set(k, list);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq >= 0) {
        push(a.slice(2, eq), a.slice(eq + 1));
      } else {
        const name = a.slice(2);
        if (flags.includes(name)) push(name, 'true');
        else {
          const v = argv[i + 1];
          if (v === undefined || v.startsWith('--')) throw new UsageError(`option --${name} needs a value`);
          push(name, v);
          i++;
        }
      }
    } else positional.push(a);
  }
  return { positional, options };
}

/** Wrong flags or arguments on the command line; the message is the remedy (often the usage). */
export class UsageError extends HnfnetError {
  override name = 'UsageError';
  override readonly code = 'USAGE';
}

export function optString(a: ParsedArgs, name: string): string | undefined {
  const v = a.options.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

export function optNumber(a: ParsedArgs, name: string): number | undefined {
  const s = optString(a, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new UsageError(`option --${name} expects a number, got "${s}"`);
  return n;
}

export function optFlag(a: ParsedArgs, name: string): boolean {
  return a.options.has(name);
}

/** Rejects options a command does not know, so a typo is an error and not a silent default. */
export function checkKnown(a: ParsedArgs, known: readonly string[], command: string): void {
  for (const k of a.options.keys()) {
    if (!known.includes(k)) throw new UsageError(`hnfnet ${command}: unknown option --${k} (known: ${known.map((x) => '--' + x).join(', ')})`);
  }
}
