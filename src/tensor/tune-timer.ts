import type { Device } from './device.js';

export type TimerKind = 'gpu' | 'wall';

/**
 * Times one run of `run` (which records GPU work): with timestamp queries where the adapter
 * has them and nobody else is timing (the passes' GPU time, free of host overhead), else
 * wall clock from a drained queue to a drained queue. Milliseconds.
 */
export async function timeOnce(device: Device, run: () => void): Promise<{ ms: number; timer: TimerKind }> {
  await device.sync();
  if (!device.isTiming && device.startTiming()) {
    run();
    const ns = await device.stopTiming();
    await device.throwPendingErrors();
    if (ns !== null && ns > 0) return { ms: ns / 1e6, timer: 'gpu' };
    // No pass was timed (the run only copied): fall through to the wall clock.
  }
  const t0 = performance.now();
  run();
  await device.sync();
  return { ms: performance.now() - t0, timer: 'wall' };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
