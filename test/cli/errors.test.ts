import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as hnfnet from '../../src/index.js';
import { ArgumentError, DataError, HnfnetError, ShapeError } from '../../src/index.js';
import { UsageError } from '../../src/cli/args.js';
import { describeFailure } from '../../src/cli/failure.js';
import { CaseFormatError } from '../../src/conformance/case.js';
import { REPO_ROOT } from '../data/helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

type ErrorClass = new (a: string, b: string) => HnfnetError;

describe("the library's errors", () => {
  it('every error class is exported, extends HnfnetError and has its own stable code', () => {
    const classes = [
      ...(Object.values(hnfnet) as unknown[]).filter((v): v is ErrorClass => typeof v === 'function' && v.prototype instanceof Error),
      UsageError as unknown as ErrorClass,
      CaseFormatError as unknown as ErrorClass,
    ];
    expect(classes.length).toBeGreaterThanOrEqual(17);
    const codes = new Map<string, string>();
    for (const C of classes) {
      const e = new C('a', 'b');
      expect(e, C.name).toBeInstanceOf(HnfnetError);
      expect(e.code, C.name).toMatch(/^[A-Z][A-Z_]+$/);
      expect(e.name).toBe(C.name);
      expect(codes.get(e.code), `${C.name} and ${codes.get(e.code)} share ${e.code}`).toBeUndefined();
      codes.set(e.code, C.name);
    }
    expect(Object.fromEntries([...codes].map(([k, v]) => [v, k]))).toMatchObject({ ShapeError: 'SHAPE', LimitError: 'LIMIT', DataError: 'DATA', UsageError: 'USAGE', CheckpointError: 'CHECKPOINT' });
  });

  it('no source file throws a plain Error (or RangeError, TypeError)', () => {
    const offenders = sources(join(REPO_ROOT, 'src')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\b(new|throw) (Error|RangeError|TypeError)\(/.test(line) ? [`${f.slice(REPO_ROOT.length + 1)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });

  it('library errors reached from user input carry their class', () => {
    expect(() => hnfnet.evaluation.percentile([1, 2], 101)).toThrow(ArgumentError);
    expect(() => hnfnet.generatePhantom({ size: 8 })).toThrow(ArgumentError);
    expect(() => hnfnet.evaluation.dice(new Uint8Array(3), new Uint8Array(4))).toThrow(ShapeError);
  });

  it('the CLI prints one line with the code, and the stack only when asked', () => {
    const e = new DataError('case/t1.nii.gz', 'truncated:\n  1024 bytes of 2048');
    expect(describeFailure(e, false)).toBe('hnfnet: case/t1.nii.gz: truncated: 1024 bytes of 2048 [DATA]');
    expect(describeFailure(e, true)).toMatch(/^hnfnet: case\/t1\.nii\.gz: truncated:\n {2}1024 bytes of 2048 \[DATA\]\n.*DataError/s);
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' });
    expect(describeFailure(enoent, false)).toBe("hnfnet: ENOENT: no such file or directory, open 'x' [ENOENT]");
    // Not ours and not Node's: a bug, shown with its stack.
    expect(describeFailure(new TypeError('x is undefined'), false)).toMatch(/^hnfnet: x is undefined\nTypeError: x is undefined\n\s+at /);
  });

  it('hnfnet --help loads no command module and no GPU binding; a command that fails prints one line', () => {
    const node = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/cli/forbid-gpu.mjs', 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    const help = node(['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^ {2}infer {8}segment BraTS cases/m);
    // The guard works: a command that needs the GPU cannot start under it.
    const summary = node(['summary', '--help']);
    expect(summary.status).not.toBe(0);
    expect(summary.stderr).toMatch(/FORBIDDEN: webgpu was loaded/);
    const bad = node(['inspect', join(REPO_ROOT, 'package.json')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^hnfnet: .*package\.json.* \[DATA\]$/m);
    const verbose = node(['inspect', join(REPO_ROOT, 'package.json'), '--verbose']);
    expect(verbose.status).toBe(1);
    expect(verbose.stderr).toMatch(/\[DATA\]\n.*DataError.*\n\s+at /s);
  });
});
