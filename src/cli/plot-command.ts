/** `hnfnet plot RUN`: the run's loss, validation Dice and learning-rate curves as SVG (and PNG where a converter exists). */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { commitTemp, tempPathFor, writeOutputFile } from '../data/atomic-write.node.js';
import { checkKnown, optFlag, optString, parseArgs, UsageError } from './args.js';
import type { Command } from './commands.js';
import { HnfnetError } from '../tensor/errors.js';
import { curvesSummary, runCurves } from '../train/run-curves.node.js';

const USAGE = `hnfnet plot RUN [--out FILE.svg] [--no-png]

Reads RUN/log.jsonl and writes RUN/curves.svg (or --out): training loss per step with its
epoch means and the Dice and BCE terms, validation Dice per region (WT, TC, ET, mean), and
the learning rate, against epochs. Also writes a PNG next to it when rsvg-convert or
ImageMagick (magick / convert) is on PATH; without one the PNG is skipped (and said so).`;

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Converts an SVG to PNG with the first converter on PATH that succeeds. Returns the tool used,
 * or null with the reason (none installed, or each one's failure).
 */
export function svgToPng(svgPath: string, pngPath: string): { tool: string | null; note: string } {
  const tools: [string, string[]][] = [
    ['rsvg-convert', ['-o', pngPath, svgPath]],
    ['magick', [svgPath, pngPath]],
    ['convert', [svgPath, pngPath]],
  ];
  const failed: string[] = [];
  for (const [tool, args] of tools) {
    const exe = onPath(tool);
    if (!exe) continue;
    const r = spawnSync(exe, args, { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return { tool, note: tool };
    rmSync(pngPath, { force: true });
    failed.push(`${tool} failed (${r.status === null ? (r.signal ?? r.error?.message ?? 'no status') : `exit ${r.status}`})`);
  }
  return { tool: null, note: failed.length ? failed.join('; ') : 'neither rsvg-convert nor ImageMagick is on PATH' };
}

export const command: Command = {
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const a = parseArgs(argv, ['no-png']);
    checkKnown(a, ['out', 'no-png'], 'plot');
    const run = a.positional[0];
    if (!run || a.positional.length > 1) throw new UsageError(`usage: ${USAGE}`);
    const logPath = (await stat(run).catch(() => null))?.isDirectory() ? join(run, 'log.jsonl') : run;
    const curves = await runCurves(logPath, run).catch((e: NodeJS.ErrnoException) => {
      if (e instanceof HnfnetError) throw e;
      throw new UsageError(`hnfnet plot: cannot read ${logPath} (${e.code ?? e.message})`);
    });
    const bad = curves.badLines;
    if (bad.length) console.error(`warning: ${logPath}: ${bad.length} line${bad.length > 1 ? 's are' : ' is'} not a log entry and left out of the plot (line${bad.length > 1 ? 's' : ''} ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`);
    const out = optString(a, 'out') ?? join((await stat(run).catch(() => null))?.isDirectory() ? run : '.', 'curves.svg');
    await writeOutputFile(out, curves.svg);
    console.log(`wrote ${out} (${curvesSummary(curves)})`);
    if (!optFlag(a, 'no-png')) {
      const png = out.replace(/\.svg$/i, '') + '.png';
      // The converter writes a temp file (ending in .png: ImageMagick picks the format by it)
      // that replaces the PNG only when complete.
      const tmp = `${tempPathFor(png.replace(/\.png$/i, ''))}.png`;
      const { tool, note } = svgToPng(out, tmp);
      if (tool) await commitTemp(tmp, png);
      console.log(tool ? `wrote ${png} (${tool})` : `no PNG: ${note} (the SVG opens in any browser)`);
    }
    return 0;
  },
};
