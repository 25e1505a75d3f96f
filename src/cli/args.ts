import { HnfnetError } from '../tensor/errors.js';

/** A small, strict argv parser: `--name value`, `--flag`, `--name=value`, repeated names collect. */
export interface ParsedArgs {
  positional: string[];
  options: Map<string, string[]>;
  /** Options given last or before another option, without a value: reported by checkKnown, after unknown names. */
  missingValue: string[];
}

export function parseArgs(argv: readonly string[], flags: readonly string[] = []): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  const missingValue: string[] = [];
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
          if (v === undefined || v.startsWith('--')) missingValue.push(name);
          else {
            push(name, v);
            i++;
          }
        }
      }
    } else positional.push(a);
  }
  return { positional, options, missingValue };
}

/** Wrong flags or arguments on the command line; the message is the remedy (often the usage). */
export class UsageError extends HnfnetError {
  override name = 'UsageError';
  override readonly code = 'USAGE';
}

/** A single-valued option; given twice it is an error (which one was meant?). */
export function optString(a: ParsedArgs, name: string): string | undefined {
  const v = a.options.get(name);
  if (v !== undefined && v.length > 1) throw new UsageError(`option --${name} is given ${v.length} times (${v.map((x) => `"${x}"`).join(', ')}); give it once`);
  return v === undefined ? undefined : v[0];
}

export function optNumber(a: ParsedArgs, name: string): number | undefined {
  const s = optString(a, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new UsageError(`option --${name} expects a number, got "${s}"`);
  return n;
}

/** An integer option within [min, max]; the error names the flag and the range. */
export function optInt(a: ParsedArgs, name: string, min: number, max = Infinity): number | undefined {
  const v = optNumber(a, name);
  if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) {
    throw new UsageError(`option --${name} must be an integer ${max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`}, got ${v}`);
  }
  return v;
}

/** A number option strictly between `lo` and `hi`, or from `lo` (inclusive) when `loInclusive`. */
export function optBetween(a: ParsedArgs, name: string, lo: number, hi: number, loInclusive = false): number | undefined {
  const v = optNumber(a, name);
  if (v !== undefined && !((loInclusive ? v >= lo : v > lo) && v < hi)) {
    throw new UsageError(`option --${name} must be ${loInclusive ? `≥ ${lo}` : `> ${lo}`} and < ${hi}, got ${v}`);
  }
  return v;
}

export function optFlag(a: ParsedArgs, name: string): boolean {
  return a.options.has(name);
}

/** Rejects options a command does not know, so a typo is an error and not a silent default. */
export function checkKnown(a: ParsedArgs, known: readonly string[], command: string): void {
  for (const k of a.options.keys()) {
    if (!known.includes(k)) throw new UsageError(`hnfnet ${command}: unknown option --${k} (known: ${known.map((x) => '--' + x).join(', ')})`);
  }
  for (const k of a.missingValue) {
    if (!known.includes(k)) throw new UsageError(`hnfnet ${command}: unknown option --${k} (known: ${known.map((x) => '--' + x).join(', ')})`);
  }
  if (a.missingValue.length) throw new UsageError(`hnfnet ${command}: option --${a.missingValue[0]} needs a value`);
}
