/** The per-kernel timing table of a run. */
import { formatMs, h } from './dom.js';
import type { KernelTiming } from './profiler.js';

export function timingTable(rows: readonly KernelTiming[], wallMs: number, limit = 15): HTMLElement {
  const timed = rows.some((r) => r.ms !== null);
  const gpuMs = rows.reduce((a, r) => a + (r.ms ?? 0), 0);
  const calls = rows.reduce((a, r) => a + r.calls, 0);
  const top = rows.slice(0, limit);
  const rest = rows.slice(limit);
  const table = h(
    'table',
    { class: 'hnf-timings' },
    h('thead', {}, h('tr', {}, h('th', {}, 'kernel'), h('th', {}, 'calls'), h('th', {}, timed ? 'GPU time' : ''), h('th', {}, timed ? 'share' : ''), h('th', {}, ''))),
  );
  const body = h('tbody');
  const line = (name: string, n: number, ms: number | null) => {
    const share = ms !== null && gpuMs > 0 ? ms / gpuMs : 0;
    body.append(
      h(
        'tr',
        {},
        h('td', {}, name),
        h('td', {}, String(n)),
        h('td', {}, ms === null ? '' : formatMs(ms)),
        h('td', {}, ms === null ? '' : `${(share * 100).toFixed(1)}%`),
        h('td', { style: 'width: 30%; text-align: left' }, ms === null ? '' : h('span', { class: 'hnf-bar', style: `width: ${(share * 100).toFixed(1)}%` })),
      ),
    );
  };
  for (const r of top) line(r.kernel, r.calls, r.ms);
  if (rest.length) line(`${rest.length} more kernels`, rest.reduce((a, r) => a + r.calls, 0), timed ? rest.reduce((a, r) => a + (r.ms ?? 0), 0) : null);
  table.append(body);
  const summary = timed
    ? `${calls} dispatches, ${formatMs(gpuMs)} of GPU time (timestamp queries) in ${formatMs(wallMs)} wall time; the rest is host work (windows, read-backs, blending) and waiting.`
    : `${calls} dispatches in ${formatMs(wallMs)}. This adapter has no 'timestamp-query' feature, so only dispatch counts are shown.`;
  return h('div', {}, table, h('p', { class: 'hnf-note' }, summary));
}
