import { describe, expect, it } from 'vitest';
import { backward, cat, emAttention, keep, mul, noGrad, randn, sum, tensor, tidy, Generator, type Tensor } from '../../src/index.js';
import { observeCalls } from '../../src/nn/index.js';
import { buildModel, EMAUnit, InterScaleSDE, IntraScaleSDE, PMF, presetConfig, ResidualBlock, type BuildContext, type HnfnetConfig } from '../../src/hnfnet/index.js';
import { getDevice, gradCheck, randArray } from '../helpers.js';

const ctx = (seed: number): BuildContext => ({ generator: new Generator(seed), norm: { kind: 'instance', affine: true, eps: 1e-5 } });

/** Several outputs as one flat tensor, so the helper weighs every element (in float64 on the host). */
function flatCat(ts: Tensor[]): Tensor {
  return tidy(() => cat(ts.map((t) => t.reshape([-1])), 0));
}

/** The blocks, one at a time, against central differences on their inputs (small and smooth enough for the helper's defaults). */
describe('hnfnet blocks: input gradients', () => {
  it('residual block with intra-scale SDE', async () => {
    await getDevice();
    const block = new ResidualBlock(ctx(1), 3, new IntraScaleSDE(ctx(2), 3, 1));
    await gradCheck(([x]) => block.call(x!), [{ data: randArray(2 * 3 * 27, 1), shape: [2, 3, 3, 3, 3] }], { seed: 3 });
    block.dispose();
  });

  it('inter-scale SDE over two branches', async () => {
    await getDevice();
    const sde = new InterScaleSDE(ctx(4), [2, 3]);
    await gradCheck(
      ([a, b]) => {
        const [ya, yb] = sde.call([a!, b!]);
        const out = flatCat([ya!, yb!]);
        ya!.dispose();
        yb!.dispose();
        return out;
      },
      [
        { data: randArray(2 * 2 * 64, 5), shape: [2, 2, 4, 4, 4] },
        { data: randArray(2 * 3 * 8, 6), shape: [2, 3, 2, 2, 2] },
      ],
      { seed: 7 },
    );
    sde.dispose();
  });

  it('PMF module with two branches (transition, blocks, fusion both ways)', async () => {
    await getDevice();
    const pmf = new PMF(ctx(8), [2, 3], 1, null);
    await gradCheck(
      ([x]) => {
        const [a, b] = pmf.call([x!]);
        const out = flatCat([a!, b!]);
        a!.dispose();
        b!.dispose();
        return out;
      },
      [{ data: randArray(2 * 2 * 512, 9), shape: [2, 2, 8, 8, 8] }],
      { seed: 10, eps: 1e-3 },
    );
    pmf.dispose();
  });

  it('EMA unit: gradient through the residual path with the reconstruction held', async () => {
    await getDevice();
    const unit = new EMAUnit(ctx(11), 3, { bases: 4, stages: 3, momentum: 0.9, renormalize: true }).eval();
    unit.heldAttention = keep(randn([2, 3, 3, 3, 3], { seed: 12 }));
    await gradCheck(([x]) => unit.call(x!), [{ data: randArray(2 * 3 * 27, 13), shape: [2, 3, 3, 3, 3] }], { seed: 14 });
    unit.heldAttention.dispose();
    unit.dispose();
  });
});

/**
 * The whole tiny HNF-Netv2 (eval mode, 16³): backward() against central differences of
 * Σ w·model(x) for elements of parameters spread over the network. The EM unit's output is a
 * constant to the analytic gradient (EMANet's stop-gradient), so the check holds it at its
 * value for the unperturbed weights: then both sides differentiate the same function.
 *
 * The model is the tiny preset with instance norm eps = 1 instead of 1e-5. With the default,
 * instance norm over the 2³ voxels of the 1/8 branch (16³ input) divides by standard
 * deviations near zero, and the loss becomes so curved in the early layers' weights that
 * one-sided slopes swing from +12 to −8 within ±0.003 of a weight (measured): no step size
 * resolves that in float32. eps = 1 bounds the norm's gain; every op, path and backward rule
 * stays the same, and central differences then agree with backward() to a few percent. The
 * EM unit's own parameters are left to the block test above: at initialisation its
 * reconstruction is nearly constant over voxels, so its norm sits on ReLU kinks here.
 */
describe('tiny hnfnetv2: parameter gradients', () => {
  it('match central differences on parameters before, inside and after the EMA unit', async () => {
    const device = await getDevice();
    const model = buildModel({ ...(presetConfig('tiny') as HnfnetConfig), norm: { kind: 'instance', affine: true, eps: 1 } }, { device, seed: 11 }).eval();
    const x = randn([1, 4, 16, 16, 16], { seed: 4, device });

    let emaInput: Tensor | null = null;
    noGrad(() =>
      observeCalls(
        {
          enter() {},
          exit(m, inputs) {
            if (m === model.ema) emaInput = keep((inputs[0] as Tensor).detach());
          },
        },
        () => model.call(x),
      ),
    ).dispose();
    const held = noGrad(() => {
      const h = model.ema.conv1.call(emaInput!);
      const r = emAttention(h, model.ema.bases, { stages: model.config.emaStages });
      h.dispose();
      r.mu.dispose();
      return keep(r.y);
    });
    (emaInput as Tensor | null)?.dispose();
    model.ema.heldAttention = held;

    const w = randArray(3 * 16 ** 3, 99);
    const wt = tensor(w, [1, 3, 16, 16, 16], { device });
    const loss = tidy(() => sum(mul(model.call(x), wt)));
    backward(loss);
    loss.dispose();

    const picks: [string, number][] = [
      ['stem.0.conv.weight', 17],
      ['stem.0.conv.weight', 300],
      ['stem.0.norm.weight', 3],
      ['down.conv.weight', 50],
      ['pmf1.branches.0.0.conv1.weight', 11],
      ['pmf1.branches.0.0.conv2.weight', 100],
      ['pmf1.branches.0.0.se.conv2.bias', 2],
      ['pmf2.transition.conv.weight', 70],
      ['pmf2.fuse.0.1.conv.weight', 5],
      ['pmf2.fuse.1.0.0.conv.weight', 33],
      ['pmf3.branches.1.0.conv2.weight', 400],
      ['pmf3.branches.2.0.conv1.weight', 250],
      ['inter_sde.squeeze.0.weight', 7],
      ['inter_sde.squeeze.1.bias', 0],
      ['inter_sde.fuse.1.conv.weight', 40],
      ['pmf4.fuse.0.2.conv.weight', 9],
      ['pmf4.branches.1.0.norm2.weight', 5],
      ['up.conv.weight', 100],
      ['decoder.0.conv.weight', 200],
      ['decoder.1.conv.weight', 60],
      ['head.weight', 2],
      ['head.bias', 1],
    ];
    const params = new Map(model.namedParameters());
    // EMANet's conv1 only feeds the EM iterations: it never gets a gradient.
    expect(params.get('ema.conv1.weight')!.grad).toBeNull();
    expect(params.get('ema.conv1.bias')!.grad).toBeNull();

    const objective = async (): Promise<number> => {
      const y = noGrad(() => tidy(() => model.call(x)));
      const d = await y.data();
      y.dispose();
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
      return s;
    };
    // Central differences at two steps; a pick passes on the closer one. ReLU kinks sit a
    // fraction of 1e-3 apart in weight space here, so one step may straddle a kink, but a
    // wrong gradient misses at both.
    const steps = [1e-3, 1e-4];
    const analytic: number[] = [];
    const numeric: number[] = [];
    for (const [name, idx] of picks) {
      const p = params.get(name);
      expect(p, name).toBeDefined();
      expect(p!.grad, name).not.toBeNull();
      const a = (await p!.grad!.data())[idx]!;
      analytic.push(a);
      const base = await p!.data();
      const at = async (v: number): Promise<number> => {
        const arr = base.slice();
        arr[idx] = v;
        await device.sync();
        device.write(p!.buffer, arr);
        return objective();
      };
      let best = NaN;
      for (const eps of steps) {
        const n = ((await at(base[idx]! + eps)) - (await at(base[idx]! - eps))) / (2 * eps);
        if (!(Math.abs(n - a) >= Math.abs(best - a))) best = n;
      }
      numeric.push(best);
      await device.sync();
      device.write(p!.buffer, base);
    }
    const report = picks.map(([n, i], k) => `${n}[${i}]: analytic ${analytic[k]!.toFixed(4)}, numeric ${numeric[k]!.toFixed(4)}`).join('\n');
    // Each element within 10% (+0.05 absolute for gradients near zero), and all of them
    // together: cosine ≥ 0.999 and median relative error ≤ 3%.
    const rels = analytic.map((a, k) => Math.abs(a - numeric[k]!) / (0.5 + Math.abs(numeric[k]!)));
    for (const [k, a] of analytic.entries()) {
      expect(Math.abs(a - numeric[k]!), `${picks[k]![0]}[${picks[k]![1]}]\n${report}`).toBeLessThanOrEqual(0.05 + 0.1 * Math.abs(numeric[k]!));
    }
    const dot = analytic.reduce((s, a, k) => s + a * numeric[k]!, 0);
    const cos = dot / Math.hypot(...analytic) / Math.hypot(...numeric);
    expect(cos, report).toBeGreaterThanOrEqual(0.999);
    const median = [...rels].sort((a, b) => a - b)[Math.floor(rels.length / 2)]!;
    expect(median, report).toBeLessThanOrEqual(0.03);

    model.zeroGrad();
    held.dispose();
    model.ema.heldAttention = null;
    x.dispose();
    wt.dispose();
    model.dispose();
  }, 120_000);
});
