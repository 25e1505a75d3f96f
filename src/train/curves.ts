/**
 * Training curves as a hand-written SVG (no dependency; runs in a browser too): stacked panels
 * sharing the x axis (epochs), each with nice-number ticks, a grid and a legend.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  width?: number;
  opacity?: number;
  /** Draw a dot at every point (sparse series such as validations). */
  dots?: boolean;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range (e.g. [0, 1] for Dice); otherwise from the data, starting at 0 when all values are positive. */
  yRange?: [number, number];
  /** Shown when no series has points. */
  emptyText?: string;
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  // Multiples of the step, rounded to 12 digits, so 3 × 0.2 prints as 0.6.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

/** [min, max] without spreading (runs have ~10⁵ points, beyond what an argument list takes). */
function extent(values: Iterable<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface SvgOptions {
  title?: string;
  xLabel?: string;
  width?: number;
  panelHeight?: number;
}

export function renderSvg(panels: readonly Panel[], opts: SvgOptions = {}): string {
  const W = opts.width ?? 900;
  const PH = opts.panelHeight ?? 260;
  const m = { left: 70, right: 170, top: 34, bottom: 44 };
  const titleH = opts.title ? 30 : 0;
  const H = titleH + panels.length * PH;
  const xs = extent(panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x))));
  const xMin = Math.min(0, xs?.[0] ?? 0);
  const xMax = xs && xs[1] > xMin ? xs[1] : xMin + 1;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`);
  panels.forEach((panel, pi) => {
    const top = titleH + pi * PH;
    const x0 = m.left;
    const x1 = W - m.right;
    const y0 = top + m.top;
    const y1 = top + PH - m.bottom;
    let [yLo, yHi] = panel.yRange ?? extent(panel.series.flatMap((s) => s.points.map(([, y]) => y))) ?? [0, 1];
    if (!panel.yRange && yLo > 0) yLo = 0;
    if (!(yHi > yLo)) yHi = yLo + 1;
    const sx = (x: number) => x0 + ((x - xMin) / (xMax - xMin)) * (x1 - x0);
    const sy = (y: number) => y1 - ((y - yLo) / (yHi - yLo)) * (y1 - y0);
    out.push(`<text x="${x0}" y="${top + 22}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (const t of niceTicks(yLo, yHi)) {
      const y = sy(t).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${fmtTick(t)}</text>`);
    }
    for (const t of niceTicks(xMin, xMax, 8)) {
      const x = sx(t).toFixed(1);
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y1}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${x}" y="${y1 + 16}" text-anchor="middle" fill="#444">${fmtTick(t)}</text>`);
    }
    out.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#888"/>`);
    out.push(`<text x="${(x0 + x1) / 2}" y="${y1 + 34}" text-anchor="middle" fill="#222">${esc(opts.xLabel ?? 'epoch')}</text>`);
    out.push(`<text transform="translate(${x0 - 50} ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(panel.yLabel)}</text>`);
    if (panel.series.every((s) => s.points.length === 0)) {
      out.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#999">${esc(panel.emptyText ?? 'no data')}</text>`);
    }
    panel.series.forEach((s, si) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      const style = `stroke="${s.color}" stroke-width="${s.width ?? 1.5}"${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}`;
      if (pts.length > 1) out.push(`<polyline fill="none" ${style} stroke-linejoin="round" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
      if (s.dots || pts.length === 1) for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
      const ly = y0 + 8 + si * 18;
      out.push(`<line x1="${x1 + 12}" y1="${ly}" x2="${x1 + 36}" y2="${ly}" ${style}/>`);
      out.push(`<text x="${x1 + 42}" y="${ly}" dominant-baseline="middle" fill="#222">${esc(s.name)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** What the curves are drawn from (the fields of log.jsonl's step and val lines). */
export interface CurveInput {
  steps: readonly { step: number; loss: number; dice_loss: number; bce: number; lr: number }[];
  vals: readonly { step: number; dice: { WT: number; TC: number; ET: number }; mean: number }[];
  /** Converts steps to epochs on the x axis; without it the axis counts steps. */
  stepsPerEpoch?: number;
}

/** Means over consecutive windows of `n` points (the x of each window is its last point's). */
function windowMeans(points: readonly (readonly [number, number])[], n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += n) {
    const w = points.slice(i, i + n);
    out.push([w[w.length - 1]![0], w.reduce((a, p) => a + p[1], 0) / w.length]);
  }
  return out;
}

/** Loss, validation Dice and learning-rate panels of a run. */
export function trainingPanels(c: CurveInput): Panel[] {
  const spe = c.stepsPerEpoch ?? 1;
  const x = (step: number) => step / spe;
  const pts = (f: (r: CurveInput['steps'][number]) => number) => c.steps.map((r) => [x(r.step), f(r)] as const);
  // One mean per epoch (or per ~1% of the run when epochs are few steps long and many).
  const win = c.stepsPerEpoch ?? Math.max(1, Math.round(c.steps.length / 100));
  const perStep = pts((r) => r.loss);
  // Thousands of points are as many as a plot can show; longer runs are thinned by averaging.
  const raw = perStep.length > 2000 ? windowMeans(perStep, Math.ceil(perStep.length / 2000)) : perStep;
  return [
    {
      title: 'Training loss',
      yLabel: 'loss',
      series: [
        { name: 'loss (per step)', color: '#1f77b4', points: raw, width: 1, opacity: 0.3 },
        { name: 'loss (epoch mean)', color: '#1f77b4', points: windowMeans(perStep, win), width: 2.2 },
        { name: 'Dice term', color: '#ff7f0e', points: windowMeans(pts((r) => r.dice_loss), win) },
        { name: 'BCE term', color: '#2ca02c', points: windowMeans(pts((r) => r.bce), win) },
      ],
      emptyText: 'no training steps logged yet',
    },
    {
      title: 'Validation Dice (held-out fold)',
      yLabel: 'Dice',
      yRange: [0, 1],
      series: [
        { name: 'WT', color: '#d62728', points: c.vals.map((v) => [x(v.step), v.dice.WT] as const), dots: true },
        { name: 'TC', color: '#9467bd', points: c.vals.map((v) => [x(v.step), v.dice.TC] as const), dots: true },
        { name: 'ET', color: '#17becf', points: c.vals.map((v) => [x(v.step), v.dice.ET] as const), dots: true },
        { name: 'mean', color: '#222222', points: c.vals.map((v) => [x(v.step), v.mean] as const), width: 2.2, dots: true },
      ],
      emptyText: 'no validation yet (train with --fold k)',
    },
    {
      title: 'Learning rate',
      yLabel: 'lr',
      series: [{ name: 'lr', color: '#8c564b', points: pts((r) => r.lr) }],
    },
  ];
}
