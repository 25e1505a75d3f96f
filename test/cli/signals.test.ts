/**
 * Ctrl-C on a training run, as a terminal sends it: SIGINT to the whole foreground process group
 * (npm, its shell and node all get it, and launchers relay it to their child as well). One Ctrl-C
 * stops after the step, writes the checkpoint and releases the run's lock.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readWeightsInfo } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.node.js';
import { readLog, type StepLine } from '../../src/train/run-log.node.js';
import { REPO_ROOT } from '../data/helpers.js';
import { getDevice } from '../helpers.js';

const TRAIN = ['--workers', '0', '--phantoms', '2', '--phantom-size', '32', '--model', 'tiny', '--patch', '16', '--batch', '1', '--epochs', '100', '--steps-per-epoch', '2'];

async function steps(out: string): Promise<number[]> {
  return (await readLog(join(out, 'log.jsonl'))).filter((l): l is StepLine => l.type === 'step').map((s) => s.step);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Ctrl-C on hnfnet train', () => {
  it('through `npm run hnfnet -- train`, SIGINT to the process group: one checkpoint at the step it stopped, exit 130, no lock left', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'hnfnet-sigint-')), 'run');
    const child = spawn('npm', ['run', '--silent', 'hnfnet', '--', 'train', '--out', out, ...TRAIN], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Wait for the second step in the log (training is under way), then press Ctrl-C.
    for (let t = 0; t < 1200; t++) {
      await new Promise((r) => setTimeout(r, 100));
      if (existsSync(join(out, 'log.jsonl')) && (await steps(out)).length >= 2) break;
    }
    expect((await steps(out)).length, stderr).toBeGreaterThanOrEqual(2);
    process.kill(-child.pid!, 'SIGINT');
    const { code, signal } = await exited;
    // npm re-raises its child's signal on itself; the trainer's own status is 130 either way.
    expect(code === 130 || signal === 'SIGINT', `exit ${code} ${signal}\n${stderr}`).toBe(true);
    expect(stderr).toMatch(/SIGINT: stopping after this step and writing a checkpoint/);
    expect(stderr).not.toMatch(/SIGINT again: aborting/);
    const logged = await steps(out);
    const stoppedAt = Number(/stopped at step (\d+)\//.exec(stderr)?.[1]);
    expect(stoppedAt, stderr).toBe(logged[logged.length - 1]);
    expect(readWeightsInfo(new Uint8Array(readFileSync(join(out, 'last.safetensors')))).step).toBe(stoppedAt);
    expect(existsSync(join(out, 'train.lock'))).toBe(false);
  }, 300_000);

  it('copies of one signal arriving together are one request; the run stops with a checkpoint instead of aborting', async () => {
    const device = await getDevice();
    const out = join(mkdtempSync(join(tmpdir(), 'hnfnet-sigint-')), 'run');
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw new Error(`process.exit(${code}) was called`);
    }) as never);
    let sent = false;
    const stream = {
      write: (s: string) => {
        // The first step's line: a Ctrl-C relayed by a launcher arrives twice, microseconds apart.
        if (!sent && /step 1\/2/.test(s)) {
          sent = true;
          process.emit('SIGINT', 'SIGINT');
          process.emit('SIGINT', 'SIGINT');
        }
        return true;
      },
    };
    const config = resolveTrainConfig({ model: 'tiny', data: { source: 'phantom:2', phantomSize: 32 }, patch: [16, 16, 16], batch: 1, epochs: 100, stepsPerEpoch: 2 });
    const r = await runTraining({ out, config, device, stream, handleSignals: true });
    expect(exit).not.toHaveBeenCalled();
    expect(r.reason).toBe('interrupted');
    expect(r.step).toBe(1);
    expect(readWeightsInfo(new Uint8Array(readFileSync(join(out, 'last.safetensors')))).step).toBe(1);
    expect(existsSync(join(out, 'train.lock'))).toBe(false);
    expect(process.listenerCount('SIGINT')).toBe(0);
  }, 300_000);
});
