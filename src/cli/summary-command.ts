/** `hnfnet summary --model <preset> [--input 128] [--json]`: parameters and FLOPs, counted from the modules. */
import { checkKnown, optFlag, optString, parseArgs, UsageError } from './args.js';
import type { Command } from './commands.js';
import { init } from '../index.js';
import { buildModel, countModel, isPresetName, PAPER_TABLE1, presetConfig, PRESET_NAMES, sizeMultiple } from '../hnfnet/index.js';

const USAGE = `hnfnet summary --model <${PRESET_NAMES.join('|')}> [--input N | D,H,W] [--json]

Builds the model and prints, per top-level module, its parameters and the multiply-accumulates
of one forward pass at the input size (default 128³, batch 1), then the totals. "FLOPs" follow
the paper's convention: multiply-accumulates of the layers (convolutions, norms, the SDE
pooling and re-weighting); the EM iterations are listed apart. The counts come from a real
forward pass at two small sizes, exact because every layer's work is a·voxels + b.
With --json prints {"params": <count>, "flops": <count>}.`;

function parseSize(s: string): [number, number, number] {
  const parts = s.split(/[,x×]/).map((p) => Number(p.trim()));
  const dims = parts.length === 1 ? [parts[0]!, parts[0]!, parts[0]!] : parts;
  if (dims.length !== 3 || dims.some((d) => !(Number.isInteger(d) && d > 0))) throw new UsageError(`hnfnet summary: --input expects N or D,H,W (positive integers), got "${s}"`);
  return dims as [number, number, number];
}

const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));
/** Giga-units with two decimals, or three significant digits below 1 (the tiny model). */
const giga = (v: number) => (v >= 1e9 || v === 0 ? (v / 1e9).toFixed(2) : (v / 1e9).toPrecision(3));

export const command: Command = {
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const args = parseArgs(argv, ['json']);
    checkKnown(args, ['model', 'input', 'json'], 'summary');
    if (args.positional.length) throw new UsageError(`hnfnet summary: unexpected argument "${args.positional[0]}"\n\nusage: ${USAGE}`);
    const name = optString(args, 'model');
    if (!name) throw new UsageError(`hnfnet summary: --model is required (one of ${PRESET_NAMES.join(', ')})`);
    if (!isPresetName(name)) throw new UsageError(`hnfnet summary: unknown model "${name}" (one of ${PRESET_NAMES.join(', ')})`);
    const size = parseSize(optString(args, 'input') ?? '128');
    const mult = sizeMultiple(presetConfig(name));
    if (size.some((d) => d % mult !== 0)) throw new UsageError(`hnfnet summary: --input ${size.join(',')}: every side of a ${name} input must be a multiple of ${mult}`);
    const device = await init();
    const model = buildModel(name, { device });
    const c = await countModel(model, size);
    model.dispose();
    if (optFlag(args, 'json')) {
      console.log(JSON.stringify({ params: c.params, flops: c.macs }));
      return 0;
    }
    const rows = c.children.map((ch) => [ch.name, ch.type, ch.params.toLocaleString('en-US'), giga(ch.macs), c.macs ? ((100 * ch.macs) / c.macs).toFixed(1) : '0.0']);
    const head = ['module', 'type', 'params', 'GMAC', '% MAC'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((cell, i) => pad(cell, w[i]!, i >= 2)).join('  ');
    const out = [`${name} at input ${size.join('×')} (batch 1)`, '', line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line), ''];
    out.push(`parameters: ${(c.params / 1e6).toFixed(2)} M (${c.params.toLocaleString('en-US')})`);
    out.push(`FLOPs:      ${giga(c.macs)} G (multiply-accumulates, the paper's convention; ${giga(2 * c.macs)} G counting multiplies and adds separately)`);
    if (c.emMacs) out.push(`            not included: EM iterations and reconstruction of the EMA unit, ${giga(c.emMacs)} G multiply-adds`);
    const paper = name in PAPER_TABLE1 ? PAPER_TABLE1[name as keyof typeof PAPER_TABLE1] : undefined;
    if (paper && size.every((d) => d === 128)) {
      const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${((100 * (a - b)) / b).toFixed(2)}%`;
      out.push(`paper (Table 1): ${(paper.params / 1e6).toFixed(2)} M, ${(paper.flops / 1e9).toFixed(2)} G  ->  params ${pct(c.params, paper.params)}, FLOPs ${pct(c.macs, paper.flops)}`);
    }
    out.push(
      `method: forward passes at ${c.probes.map((p) => p.join('×')).join(' and ')} with every module call observed; each module's count is a·voxels + b (layers on feature maps scale with the voxel count, those on pooled 1³ maps do not), so the two probes give the ${size.join('×')} count exactly.`,
    );
    console.log(out.join('\n'));
    return 0;
  },
};
