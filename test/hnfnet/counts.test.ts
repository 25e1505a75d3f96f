import { describe, expect, it, beforeAll } from 'vitest';
import { noGrad, randn, tidy, Tensor, type Device, type Shape } from '../../src/index.js';
import { observeCalls } from '../../src/nn/index.js';
import { buildModel, countModel, PAPER_TABLE1, type PresetName } from '../../src/hnfnet/index.js';
import { getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

const FULL = ['unet3d', 'hnfnet', 'hnfnet-intra', 'hnfnetv2'] as const satisfies readonly Exclude<PresetName, 'tiny'>[];

const rel = (got: number, want: number) => Math.abs(got - want) / want;

describe('Table 1 agreement', () => {
  it('parameter counts of every preset are within 3% of the paper (no forward pass needed)', () => {
    const counts: Record<string, number> = {};
    for (const name of FULL) {
      const model = buildModel(name, { device });
      counts[name] = model.parameterCount();
      model.dispose();
      expect(rel(counts[name], PAPER_TABLE1[name].params), `${name}: ${counts[name]} vs ${PAPER_TABLE1[name].params}`).toBeLessThan(0.03);
    }
    // The ablation steps add what the paper's rows add (0.46 M for the intra-scale SDE, 0.60 M for the inter-scale one), within 0.05 M.
    expect(Math.abs(counts['hnfnet-intra']! - counts.hnfnet! - 0.46e6)).toBeLessThan(0.05e6);
    expect(Math.abs(counts.hnfnetv2! - counts['hnfnet-intra']! - 0.6e6)).toBeLessThan(0.05e6);
  });

  it('FLOPs (multiply-accumulates at 128³) of every preset are within 3% of the paper', async () => {
    const flops: Record<string, number> = {};
    for (const name of FULL) {
      const model = buildModel(name, { device });
      const c = await countModel(model, 128);
      flops[name] = c.macs;
      expect(c.params).toBe(model.parameterCount());
      expect(c.children.reduce((a, ch) => a + ch.params, 0)).toBe(c.params);
      model.dispose();
      expect(rel(c.macs, PAPER_TABLE1[name].flops), `${name}: ${c.macs} vs ${PAPER_TABLE1[name].flops}`).toBeLessThan(0.03);
    }
    // The intra-scale SDE costs almost nothing (paper: +0.16 G), the inter-scale one about 13 G.
    expect(flops['hnfnet-intra']! - flops.hnfnet!).toBeGreaterThan(0.05e9);
    expect(flops['hnfnet-intra']! - flops.hnfnet!).toBeLessThan(0.3e9);
    expect(Math.abs(flops.hnfnetv2! - flops['hnfnet-intra']! - 13.04e9)).toBeLessThan(0.5e9);
  }, 240_000);

  it('the two-probe extrapolation equals a direct count at the target size', async () => {
    const model = buildModel('tiny', { device, seed: 2 });
    model.train();
    const size = [32, 32, 48];
    const extrapolated = await countModel(model, size);
    expect(model.training).toBe(true);
    let direct = 0;
    model.eval();
    noGrad(() =>
      tidy(() => {
        const x = randn([1, 4, ...size], { device });
        observeCalls(
          {
            enter() {},
            exit(m, inputs, output) {
              const shapes = (inputs as unknown[]).flatMap((v): Shape[] => (v instanceof Tensor ? [v.shape] : Array.isArray(v) ? v.filter((t) => t instanceof Tensor).map((t: Tensor) => t.shape) : []));
              direct += m.macs(shapes, (output as Tensor).shape ?? []);
            },
          },
          () => model.call(x),
        ).dispose();
      }),
    );
    expect(extrapolated.macs).toBe(direct);
    // Work on pooled 1³ maps (SDE convs) does not grow with the input: the count is not purely proportional to voxels.
    const c16 = await countModel(model, 16);
    expect(c16.macs * ((32 * 32 * 48) / 16 ** 3)).not.toBe(extrapolated.macs);
    model.dispose();
  });
});

describe('hnfnet summary command', () => {
  it('prints the per-module table and totals, and {"params", "flops"} with --json', async () => {
    const { command } = await import('../../src/cli/summary-command.js');
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      expect(await command.run(['--model', 'tiny', '--input', '32', '--json'])).toBe(0);
      expect(await command.run(['--model', 'tiny', '--input', '32,32,48'])).toBe(0);
    } finally {
      console.log = log;
    }
    const model = buildModel('tiny', { device });
    const direct = await countModel(model, 32);
    expect(JSON.parse(lines[0]!)).toEqual({ params: model.parameterCount(), flops: direct.macs });
    model.dispose();
    const table = lines[1]!;
    for (const name of ['stem', 'down', 'pmf1', 'pmf4', 'inter_sde', 'ema', 'up', 'decoder', 'head']) expect(table).toMatch(new RegExp(`^${name}\\s`, 'm'));
    expect(table).toContain('tiny at input 32×32×48');
    expect(table).toMatch(/parameters: 0\.18 M \(181,098\)/);
    expect(table).toContain('multiply-accumulates');
    await expect(command.run(['--model', 'tiny', '--input', '24'])).rejects.toThrow(/multiple of 16/);
    await expect(command.run(['--model', 'resnet'])).rejects.toThrow(/unknown model "resnet"/);
  });
});
