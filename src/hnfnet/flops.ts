/**
 * Parameter and FLOP counts of a model, measured from its own modules.
 *
 * Convention (the paper's, see docs/ARCHITECTURE.md): "FLOPs" are multiply-accumulates of
 * the layers, what module-hook counters such as thop report: each leaf module's `macs`
 * (convolutions: output voxels × Cin × k³; instance norm: 2 per element; the intra-scale
 * SDE: its pooling and re-weighting, 1 per element each; the inter-scale SDE: its pooling).
 * Not counted, as those counters do not see them: ReLU, residual additions, trilinear
 * resampling, concatenation, and the EM iterations of the EMA unit (reported separately).
 *
 * Method: a real forward pass under noGrad in eval mode, at two small probe inputs, with
 * every module call observed. Every counted term is a·V + b in the input's voxel count V:
 * layers on feature maps scale with V exactly (all scales are exact fractions of the input
 * when its sides are multiples of the model's factor), and the few layers that run on
 * globally pooled 1³ maps (the SDE convs) cost the same at any size. Two probes of V1 and
 * V2 voxels fix a and b per module, so the count at the requested size is exact, not an
 * approximation, and a 128³ count costs two forwards at 16³-ish sizes.
 */
import { observeCalls, type CallObserver } from '../nn/module.js';
import type { Module } from '../nn/module.js';
import { randn, noGrad, Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { numel, type Shape } from '../tensor/shape.js';
import { HnfnetError } from '../tensor/errors.js';
import type { SegmentationModel } from './build.js';
import { sizeMultiple } from './config.js';
import { EMAUnit } from './ema-unit.js';

export interface ModuleCount {
  /** Top-level child name (`pmf3`, `ema`, …). */
  name: string;
  type: string;
  params: number;
  /** Multiply-accumulates of one forward pass at the counted input size. */
  macs: number;
}

export interface ModelCount {
  /** Spatial size the counts are for, [D, H, W]. */
  input: [number, number, number];
  batch: number;
  params: number;
  /** The paper's "FLOPs": multiply-accumulates (see the file comment). */
  macs: number;
  /** Multiply-adds of the EM iterations and reconstruction, not included in `macs`. */
  emMacs: number;
  children: ModuleCount[];
  /** The probe sizes the counts were extrapolated from. */
  probes: [number, number, number][];
}

function tensorShapes(values: readonly unknown[]): Shape[] {
  const out: Shape[] = [];
  for (const v of values) {
    if (v instanceof Tensor) out.push(v.shape);
    else if (Array.isArray(v)) out.push(...tensorShapes(v));
  }
  return out;
}

interface Probe {
  perChild: Map<string, number>;
  em: number;
}

function probe(model: SegmentationModel, spatial: readonly number[], batch: number): Probe {
  // Containers (ModuleList) are never called themselves, so ownership comes from the tree, not the call stack.
  const owner = new Map<Module<unknown[], unknown>, string>();
  for (const [name, child] of model.namedChildren()) for (const [, m] of child.namedModules()) owner.set(m, name);
  const perChild = new Map<string, number>(model.namedChildren().map(([n]) => [n, 0]));
  let em = 0;
  const obs: CallObserver = {
    enter() {},
    exit(m, inputs, output) {
      const ins = tensorShapes(inputs);
      const own = m.macs(ins, tensorShapes([output])[0] ?? []);
      const name = owner.get(m);
      if (name !== undefined) perChild.set(name, perChild.get(name)! + own);
      else if (own) throw new HnfnetError(`countModel: ${m.constructor.name} does work but is not part of the model's tree`);
      if (m instanceof EMAUnit) em += m.emMacs(ins[0]!);
    },
  };
  noGrad(() =>
    tidy(() => {
      const x = randn([batch, model.config.inChannels, ...spatial], { seed: 1, device: model.head.weight.device });
      observeCalls(obs, () => model.call(x)).dispose();
      x.dispose();
    }),
  );
  return { perChild, em };
}

/**
 * Counts a model's parameters and per-forward multiply-accumulates at `input` ([D, H, W] or
 * one side), batch `batch`. Runs two forwards at small sizes (see the file comment); the
 * model's train/eval flags and its buffers are left as they were.
 */
export async function countModel(model: SegmentationModel, input: number | readonly number[] = 128, batch = 1): Promise<ModelCount> {
  const size = (typeof input === 'number' ? [input, input, input] : [...input]) as [number, number, number];
  const m = Math.max(16, sizeMultiple(model.config));
  if (size.length !== 3 || size.some((d) => !(Number.isInteger(d) && d > 0 && d % sizeMultiple(model.config) === 0))) {
    throw new HnfnetError(`countModel: input [${size.join(', ')}] must be three positive multiples of ${sizeMultiple(model.config)}`);
  }
  const p1: [number, number, number] = [m, m, m];
  const p2: [number, number, number] = [m, m, 2 * m];
  const flags = model.namedModules().map(([, mod]) => [mod, mod.training] as const);
  model.eval();
  let a: Probe;
  let b: Probe;
  try {
    a = probe(model, p1, batch);
    b = probe(model, p2, batch);
    await model.head.weight.device.sync();
  } finally {
    for (const [mod, t] of flags) mod.training = t;
  }
  const v1 = numel(p1);
  const v2 = numel(p2);
  const v = numel(size);
  const extrapolate = (c1: number, c2: number): number => {
    const slope = (c2 - c1) / (v2 - v1);
    return Math.round(slope * v + (c1 - slope * v1));
  };
  const children: ModuleCount[] = model.namedChildren().map(([name, mod]) => ({
    name,
    type: mod.constructor.name,
    params: mod.parameterCount(),
    macs: extrapolate(a.perChild.get(name) ?? 0, b.perChild.get(name) ?? 0),
  }));
  return {
    input: size,
    batch,
    params: model.parameterCount(),
    macs: children.reduce((s, c) => s + c.macs, 0),
    emMacs: extrapolate(a.em, b.em),
    children,
    probes: [p1, p2],
  };
}
