/** The bench's rows and the two tables printed from them. */
export interface Row {
  name: string;
  impl: string;
  msMedian: number;
  msMin: number;
  /** Wall clock from recording to completion (what a peer timed on the host is compared with). */
  wallMedian: number;
  reps: number;
  /** 'gpu-timestamps', 'wall', or a peer's own clock ('cuda-events'). */
  clock: string;
  gflops?: number;
  gbps?: number;
  /** Peak live GPU memory over the timed runs (device.memoryStats(); hnfnet's cases), MiB. */
  peakMiB?: number;
  /** The same counting pooled buffers too (what the driver holds), MiB. */
  heldMiB?: number;
  error?: string;
}

/** Clocks that time the device's work alone, as hnfnet's GPU timestamps do. */
const DEVICE_CLOCKS = new Set(['gpu-timestamps', 'cuda-events']);

/**
 * A peer's time over hnfnet's for the same workload (below 1: the peer is faster; it is also
 * hnfnet's share of the peer's speed). Device clocks are compared with device clocks, anything
 * else with hnfnet's wall clock.
 */
export function timeRatio(r: Row, rows: readonly Row[]): number | undefined {
  if (r.impl === 'hnfnet' || r.error) return undefined;
  const o = rows.find((x) => x.impl === 'hnfnet' && x.name === r.name && !x.error);
  if (!o) return undefined;
  return DEVICE_CLOCKS.has(r.clock) && DEVICE_CLOCKS.has(o.clock) ? r.msMedian / o.msMedian : r.wallMedian / o.wallMedian;
}

function render(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function table(rows: readonly Row[]): string {
  const head = ['workload', 'impl', 'ms (median)', 'GFLOP/s', 'GB/s', 'wall ms', 'time vs hnfnet', 'clock', 'peak MiB (held)'];
  const body = rows.map((r) => {
    const ratio = timeRatio(r, rows);
    return [
      r.name,
      r.impl,
      r.error ? `error: ${r.error}` : r.msMedian.toFixed(2),
      r.gflops !== undefined ? r.gflops.toFixed(2) : '',
      r.gbps !== undefined ? r.gbps.toFixed(2) : '',
      r.error ? '' : r.wallMedian.toFixed(2),
      ratio !== undefined ? `${ratio.toFixed(2)}x` : '',
      r.error ? '' : r.clock,
      r.peakMiB !== undefined ? `${r.peakMiB} (${r.heldMiB})` : '',
    ];
  });
  return render(head, body);
}

/**
 * One line per workload that more than one implementation ran, one column per implementation:
 * its GFLOP/s (else GB/s, else ms) and, for peers, the time ratio to hnfnet.
 */
export function sideBySide(rows: readonly Row[]): string {
  const names = [...new Set(rows.map((r) => r.name))].filter((n) => rows.filter((r) => r.name === n).length > 1);
  if (names.length === 0) return '(no workload with peers)';
  const impls = [...new Set(rows.filter((r) => names.includes(r.name)).map((r) => r.impl))];
  const cell = (r: Row | undefined): string => {
    if (!r) return '';
    if (r.error) return 'error';
    const v = r.gflops ?? r.gbps;
    const ratio = timeRatio(r, rows);
    return `${v !== undefined ? v.toFixed(1) : `${r.msMedian.toFixed(2)} ms`}${ratio !== undefined ? ` (${ratio.toFixed(2)}x)` : ''}`;
  };
  return render(['workload', ...impls], names.map((n) => [n, ...impls.map((i) => cell(rows.find((r) => r.name === n && r.impl === i)))]));
}
