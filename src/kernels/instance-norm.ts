import { accumulate, attachGrad, empty, full, noGrad, zeros, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { DType } from '../tensor/dtype.js';
import type { TuneRequest } from '../tensor/tuner.js';
import { shapeClass } from '../tensor/tune-key.js';
import { tidy } from '../tensor/scope.js';
import { bindingElems } from '../tensor/chunks.js';
import { block, place, planeBlocks, writeRange, type PlaneBlock } from './split.js';
import { slice } from './concat.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { ArgumentError, ShapeError } from '../tensor/errors.js';
import { arg, sameDevice, sameDtype } from './util.js';
import { planeChunks } from './pool.js';

/**
 * Instance normalisation over the D·H·W voxels of each (n, c) plane, with f32 sums that
 * stay accurate when the mean is large next to the spread (1e4 ± 0.1: an f32 mean alone
 * is only good to ~5e-4 there, which would be a 1e-2 error in y).
 *
 * Each plane is centred twice before anything is squared: k, its first voxel, is an f32
 * from the data, so x − k is exact for data near k; m1 is the mean of x − k over a strided
 * sample of ≤ 4096 voxels. The full pass then sums e = (x − k) − m1 and e² in strided
 * partials, and the corrected two-pass formula gives
 *   mean = k + (m1 + Σe/S),  var = Σe²/S − (Σe/S)²,
 * exact for any shift; the shift only has to be near the mean for the subtraction to lose
 * nothing, and a 4096-voxel sample is (its error enters as (m1 − mean)²/var, at worst
 * S/4096 · 2⁻²⁴ relative). The mean is kept as the pair (k, m1 + Σe/S), never added up,
 * so y = ((x − k) − mean_rel) · rstd keeps its precision. The sample costs a few thousand
 * loads per plane instead of a third pass over x.
 */
const SAMPLE_LANES = 16;
const MAX_SAMPLES = 4096;

const shiftHelper = `
fn shift_mean(p: u32) -> f32 {
  var a = 0.0;
  for (var j = 0u; j < ${SAMPLE_LANES}u; j = j + 1u) { a = a + part1[p * ${SAMPLE_LANES}u + j]; }
  return a / f32(u.ns);
}`;

/** Pass 1: 16 strided partial sums of x − k over the sample of each plane. */
const sampleKernel: KernelDef = {
  name: 'instance_norm_sample',
  inputs: ['x'],
  outputs: ['part1'],
  uniforms: [
    { name: 'planes', type: 'u32' },
    { name: 's', type: 'u32' },
    { name: 'step', type: 'u32' },
    { name: 'ns', type: 'u32' },
  ],
  workgroupSize: 64,
  body: `  if (idx >= u.planes * ${SAMPLE_LANES}u) { return; }
  let p = idx / ${SAMPLE_LANES}u;
  let base = p * u.s;
  let k = x[base];
  var acc = 0.0;
  for (var i = idx % ${SAMPLE_LANES}u; i < u.ns; i = i + ${SAMPLE_LANES}u) { acc = acc + (x[base + i * u.step] - k); }
  part1[idx] = acc;`,
  halfStorage: true,
};

/**
 * Layouts. Reductions read x (and g) as vec4 when a plane holds a multiple of 4 voxels, and
 * the per-voxel passes handle 16 voxels (4 vec4s) an invocation when it holds a multiple of
 * 16: on lavapipe every storage access is a per-lane, bounds-checked operation and every
 * invocation pays for its index math, so both cut the time several-fold. Anything else
 * takes the scalar path.
 */
const vecType = (vec: boolean): 'vec4<f32>' | 'f32' => (vec ? 'vec4<f32>' : 'f32');
const hsum = (vec: boolean) => (vec ? 'fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }' : 'fn hsum(v: f32) -> f32 { return v; }');

function cached(map: Map<string, KernelDef>, key: string, make: () => KernelDef): KernelDef {
  let k = map.get(key);
  if (!k) map.set(key, (k = make()));
  return k;
}

const kernels = new Map<string, KernelDef>();

/**
 * Pass 2: per (plane, chunk), Σe and Σe² with e = (x − k) − m1, over a strided chunk.
 * `sv` is the plane length in elements of the binding (voxels, or vec4s).
 */
function momentsKernel(vec: boolean): KernelDef {
  const T = vecType(vec);
  return cached(kernels, `moments${vec}`, () => ({
    name: `instance_norm_moments${vec ? '_vec4' : ''}`,
    halfStorage: true,
    inputs: [{ name: 'x', type: T }, 'part1'],
    outputs: ['part2'],
    uniforms: [
      { name: 'planes', type: 'u32' },
      { name: 'sv', type: 'u32' },
      { name: 'chunks', type: 'u32' },
      { name: 'ns', type: 'u32' },
    ],
    workgroupSize: 64,
    helpers: `${shiftHelper}\n${hsum(vec)}`,
    body: `  if (idx >= u.planes * u.chunks) { return; }
  let p = idx / u.chunks;
  let base = p * u.sv;
  let k = ${T}(x[base]${vec ? '.x' : ''});
  let m1 = ${T}(shift_mean(p));
  var s1 = ${T}(0.0);
  var s2 = ${T}(0.0);
  for (var i = idx % u.chunks; i < u.sv; i = i + u.chunks) {
    let e = (x[base + i] - k) - m1;
    s1 = s1 + e;
    s2 = s2 + e * e;
  }
  part2[2u * idx] = hsum(s1);
  part2[2u * idx + 1u] = hsum(s2);`,
  }));
}

/**
 * Pass 2 with subgroup operations: a workgroup of MOMENT_LANES lanes covers a 1/groups share
 * of one plane, and leaves one (Σe, Σe²) pair instead of one per lane, so the merge of pass
 * 3 (a serial loop per plane) reads 64× fewer partials: on a GPU that loop, not the read of
 * x, is what a few large planes wait on. Each subgroup adds its lanes' sums (subgroupAdd);
 * the subgroup leaders' totals meet in workgroup memory, where every lane writes its own slot
 * (0 unless it leads), so nothing assumes which lanes form a subgroup nor that workgroup
 * memory starts zeroed; then every subgroup adds up the slots the same way (uniform control
 * flow for subgroupAdd) and lane 0 writes the pair. The group index comes from the workgroup
 * id, uniform as the subgroup operations need.
 */
const MOMENT_LANES = 64;

function subgroupMomentsKernel(vec: boolean): KernelDef {
  const T = vecType(vec);
  return cached(kernels, `moments-subgroup${vec}`, () => ({
    name: `instance_norm_moments_subgroup${vec ? '_vec4' : ''}`,
    halfStorage: true,
    inputs: [{ name: 'x', type: T }, 'part1'],
    outputs: ['part2'],
    uniforms: [
      { name: 'planes', type: 'u32' },
      { name: 'sv', type: 'u32' },
      { name: 'groups', type: 'u32' },
      { name: 'ns', type: 'u32' },
    ],
    workgroupSize: MOMENT_LANES,
    enable: ['subgroups'],
    helpers: `${shiftHelper}\n${hsum(vec)}
var<workgroup> lead1: array<f32, ${MOMENT_LANES}>;
var<workgroup> lead2: array<f32, ${MOMENT_LANES}>;`,
    body: `  let grp = wid.z * nwg.y * nwg.x + wid.y * nwg.x + wid.x;
  if (grp >= u.planes * u.groups) { return; }
  let p = grp / u.groups;
  let lanes = u.groups * ${MOMENT_LANES}u;
  let base = p * u.sv;
  let k = ${T}(x[base]${vec ? '.x' : ''});
  let m1 = ${T}(shift_mean(p));
  var s1 = ${T}(0.0);
  var s2 = ${T}(0.0);
  for (var i = (grp % u.groups) * ${MOMENT_LANES}u + lid.x; i < u.sv; i = i + lanes) {
    let e = (x[base + i] - k) - m1;
    s1 = s1 + e;
    s2 = s2 + e * e;
  }
  let t1 = subgroupAdd(hsum(s1));
  let t2 = subgroupAdd(hsum(s2));
  lead1[lid.x] = select(0.0, t1, sgid == 0u);
  lead2[lid.x] = select(0.0, t2, sgid == 0u);
  workgroupBarrier();
  var a1 = 0.0;
  var a2 = 0.0;
  for (var j = sgid; j < ${MOMENT_LANES}u; j = j + sgsize) {
    a1 = a1 + lead1[j];
    a2 = a2 + lead2[j];
  }
  let w1 = subgroupAdd(a1);
  let w2 = subgroupAdd(a2);
  if (lid.x == 0u) {
    part2[2u * grp] = w1;
    part2[2u * grp + 1u] = w2;
  }`,
  }));
}

/** One way to run pass 2: writes [planes, partials, 2] and says how many partials a plane has. */
export interface MomentsVariant {
  name: string;
  /** Whether this device can run it. */
  fits(device: Device): boolean;
  run(x: Tensor, part1: Tensor, planes: number, s: number, ns: number): { part2: Tensor; partials: number };
}

const STRIDED: MomentsVariant = {
  name: 'strided',
  fits: () => true,
  run(x, part1, planes, s, ns) {
    const vec = s % 4 === 0;
    const sv = vec ? s / 4 : s;
    const chunks = planeChunks(planes, sv);
    const part2 = empty([planes, chunks, 2], x.device, 'instance_norm');
    x.device.dispatch(momentsKernel(vec), { inputs: [arg(x), arg(part1)], outputs: [arg(part2)], uniforms: { planes, sv, chunks, ns }, invocations: planes * chunks, label: fmt(x.shape) });
    return { part2, partials: chunks };
  },
};

const SUBGROUP: MomentsVariant = {
  name: 'subgroup',
  fits: (device) => device.features.has('subgroups'),
  run(x, part1, planes, s, ns) {
    const vec = s % 4 === 0;
    const sv = vec ? s / 4 : s;
    // As many lanes per plane as the strided pass has partial sums, in whole workgroups.
    const groups = Math.ceil(planeChunks(planes, sv) / MOMENT_LANES);
    const part2 = empty([planes, groups, 2], x.device, 'instance_norm');
    x.device.dispatch(subgroupMomentsKernel(vec), {
      inputs: [arg(x), arg(part1)],
      outputs: [arg(part2)],
      uniforms: { planes, sv, groups, ns },
      invocations: planes * groups * MOMENT_LANES,
      label: fmt(x.shape),
    });
    return { part2, partials: groups };
  },
};

/** The implementations of the statistics' main pass the tuner chooses between (the first is the shipped default). */
export const INSTANCE_NORM_MOMENTS: readonly MomentsVariant[] = [STRIDED, SUBGROUP];

/** The tuner's request for pass 2 of planes of s voxels: the variants this device can run. */
export function momentsRequest(device: Device, planes: number, s: number, dtype: DType = 'float32'): TuneRequest<MomentsVariant> {
  const candidates = INSTANCE_NORM_MOMENTS.filter((v) => v.fits(device)).map((v) => ({ name: v.name, impl: v }));
  return {
    // float16 planes move half the bytes per voxel, so they get a key (and a measurement) of their own.
    key: { op: 'instance_norm', family: 'moments', shape: shapeClass([planes, s]), attrs: `${s % 4 === 0 ? 'vec4' : 'scalar'}${dtype === 'float32' ? '' : ` ${dtype}`}` },
    candidates,
    fallback: STRIDED.name,
    trial: () => {
      const x = full([planes * s], 0.5, { device, dtype });
      const part1 = zeros([planes, SAMPLE_LANES], { device });
      const ns = Math.ceil(s / Math.ceil(s / MAX_SAMPLES));
      return {
        run: (v) => v.run(x, part1, planes, s, ns).part2.dispose(),
        dispose: () => {
          x.dispose();
          part1.dispose();
        },
      };
    },
  };
}

/** Pass 3, one invocation per plane: stats = (k, mean − k, 1/σ, var). */
const statsKernel: KernelDef = {
  name: 'instance_norm_stats',
  inputs: ['x', 'part1', 'part2'],
  outputs: ['stats'],
  uniforms: [
    { name: 'planes', type: 'u32' },
    { name: 's', type: 'u32' },
    { name: 'chunks', type: 'u32' },
    { name: 'ns', type: 'u32' },
    { name: 'eps', type: 'f32' },
  ],
  workgroupSize: 64,
  helpers: shiftHelper,
  body: `  if (idx >= u.planes) { return; }
  var s1 = 0.0;
  var s2 = 0.0;
  let b = idx * u.chunks;
  for (var c = 0u; c < u.chunks; c = c + 1u) {
    s1 = s1 + part2[2u * (b + c)];
    s2 = s2 + part2[2u * (b + c) + 1u];
  }
  let inv = 1.0 / f32(u.s);
  let c1 = s1 * inv;
  let v = max(s2 * inv - c1 * c1, 0.0);
  stats[4u * idx] = x[idx * u.s];
  stats[4u * idx + 1u] = shift_mean(idx) + c1;
  stats[4u * idx + 2u] = 1.0 / sqrt(v + u.eps);
  stats[4u * idx + 3u] = v;`,
  halfStorage: true,
};

/**
 * The shape of a per-voxel pass: one voxel per invocation, or 16 (4 vec4s of one plane).
 * `each` is the statement for one element `e` (an index into the bound arrays) of plane `p`.
 */
function perVoxel(vec: boolean, each: string): string {
  if (!vec) return `  if (idx >= u.n) { return; }\n  let p = idx / u.s;\n  let e = idx;\n${each}`;
  return `  if (idx >= u.n / 16u) { return; }
  let p = (16u * idx) / u.s;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let e = 4u * idx + j;
${each}
  }`;
}

const perVoxelUniforms = [
  { name: 'n', type: 'u32' },
  { name: 's', type: 'u32' },
  { name: 'c', type: 'u32' },
] as const;

/**
 * Pass 4: y = x̂·w + b, then the fused epilogue: + r (a residual of x's shape) and ReLU.
 * Written as the unfused ops compute it, ((x̂·w + b) + r) then relu's select (which keeps a
 * NaN, as relu does), so the fused forms give the values of norm → add → relu.
 */
function normalizeKernel(hasW: boolean, hasB: boolean, vec: boolean, hasR: boolean, relu: boolean): KernelDef {
  const T = vecType(vec);
  return cached(kernels, `norm${hasW}${hasB}${vec}${hasR}${relu}`, () => ({
    name: `instance_norm${hasR ? '_add' : ''}${relu ? '_relu' : ''}${vec ? '_vec4' : ''}`,
    halfStorage: true,
    inputs: [{ name: 'x', type: T }, 'stats', ...(hasW ? ['w'] : []), ...(hasB ? ['b'] : []), ...(hasR ? [{ name: 'r', type: T }] : [])],
    outputs: [{ name: 'y', type: T }],
    uniforms: perVoxelUniforms,
    workgroupSize: 64,
    body: perVoxel(
      vec,
      `    let xh = ((x[e] - ${T}(stats[4u * p])) - ${T}(stats[4u * p + 1u])) * stats[4u * p + 2u];
    let v = xh${hasW ? ' * w[p % u.c]' : ''}${hasB ? ' + b[p % u.c]' : ''};
    let vr = ${hasR ? 'v + r[e]' : 'v'};
    y[e] = ${relu ? `select(vr, ${T}(0.0), vr < ${T}(0.0))` : 'vr'};`,
    ),
  }));
}

/**
 * The upstream gradient a backward pass works on: g itself, or, after a fused ReLU, g where
 * the output y is positive (exactly where the pre-activation is), so no masked copy of g is
 * written and read back.
 */
const gradOf = (T: string, mask: boolean, at: string) => (mask ? `select(${T}(0.0), g[${at}], y[${at}] > ${T}(0.0))` : `g[${at}]`);

/** Backward pass 1: per (plane, chunk), Σg and Σg·x̂ in one read of g and x. */
function backwardPartialKernel(vec: boolean, mask: boolean): KernelDef {
  const T = vecType(vec);
  return cached(kernels, `bsums${vec}${mask}`, () => ({
    name: `instance_norm${mask ? '_relu' : ''}_backward_sums${vec ? '_vec4' : ''}`,
    inputs: [{ name: 'g', type: T }, { name: 'x', type: T }, 'stats', ...(mask ? [{ name: 'y', type: T }] : [])],
    outputs: ['part'],
    uniforms: [
      { name: 'planes', type: 'u32' },
      { name: 'sv', type: 'u32' },
      { name: 'chunks', type: 'u32' },
    ],
    workgroupSize: 64,
    helpers: hsum(vec),
    body: `  if (idx >= u.planes * u.chunks) { return; }
  let p = idx / u.chunks;
  let base = p * u.sv;
  let k = ${T}(stats[4u * p]);
  let m = ${T}(stats[4u * p + 1u]);
  let r = stats[4u * p + 2u];
  var s1 = ${T}(0.0);
  var s2 = ${T}(0.0);
  for (var i = idx % u.chunks; i < u.sv; i = i + u.chunks) {
    let gv = ${gradOf(T, mask, 'base + i')};
    s1 = s1 + gv;
    s2 = s2 + gv * (((x[base + i] - k) - m) * r);
  }
  part[2u * idx] = hsum(s1);
  part[2u * idx + 1u] = hsum(s2);`,
  }));
}

/**
 * Backward pass 2, one invocation per channel: merges the chunks of each plane (Σg, Σg·x̂
 * per plane, for dx) and, over the batch, db = Σg and dw = Σg·x̂.
 */
const backwardChannelKernel: KernelDef = {
  name: 'instance_norm_backward_channels',
  inputs: ['part'],
  outputs: ['psum', 'dw', 'db'],
  uniforms: [
    { name: 'batch', type: 'u32' },
    { name: 'c', type: 'u32' },
    { name: 'chunks', type: 'u32' },
  ],
  workgroupSize: 64,
  body: `  if (idx >= u.c) { return; }
  var tw = 0.0;
  var tb = 0.0;
  for (var n = 0u; n < u.batch; n = n + 1u) {
    let p = n * u.c + idx;
    var s1 = 0.0;
    var s2 = 0.0;
    for (var c = 0u; c < u.chunks; c = c + 1u) {
      s1 = s1 + part[2u * (p * u.chunks + c)];
      s2 = s2 + part[2u * (p * u.chunks + c) + 1u];
    }
    psum[2u * p] = s1;
    psum[2u * p + 1u] = s2;
    tb = tb + s1;
    tw = tw + s2;
  }
  dw[idx] = tw;
  db[idx] = tb;`,
};

/**
 * Backward pass 3: dx = (w/σ)·(g − mean(g) − x̂·mean(g·x̂)); with `dr`, also the masked g,
 * which is the gradient of a fused residual (the addition passes it on unchanged).
 */
function dxKernel(hasW: boolean, vec: boolean, mask: boolean, dr: boolean): KernelDef {
  const T = vecType(vec);
  return cached(kernels, `dx${hasW}${vec}${mask}${dr}`, () => ({
    name: `instance_norm${mask ? '_relu' : ''}_backward${vec ? '_vec4' : ''}`,
    inputs: [{ name: 'g', type: T }, { name: 'x', type: T }, 'stats', 'psum', ...(hasW ? ['w'] : []), ...(mask ? [{ name: 'y', type: T }] : [])],
    outputs: [{ name: 'dx', type: T }, ...(dr ? [{ name: 'dr', type: T }] : [])],
    uniforms: perVoxelUniforms,
    workgroupSize: 64,
    body: perVoxel(
      vec,
      `    let r = stats[4u * p + 2u];
    let xh = ((x[e] - ${T}(stats[4u * p])) - ${T}(stats[4u * p + 1u])) * r;
    let inv = 1.0 / f32(u.s);
    let gv = ${gradOf(T, mask, 'e')};
    dx[e] = (r${hasW ? ' * w[p % u.c]' : ''}) * (gv - psum[2u * p] * inv - xh * (psum[2u * p + 1u] * inv));${dr ? '\n    dr[e] = gv;' : ''}`,
    ),
  }));
}

function checkArgs(op: string, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, residual: Tensor | null): void {
  if (x.rank !== 5) throw new ShapeError(`${op}: expected a 5-D [N, C, D, H, W] input, got ${fmt(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    sameDevice(op, x, t);
    if (t.size !== c || t.rank !== 1) throw new ShapeError(`${op}: ${name} ${fmt(t.shape)} should be [${c}] for input ${fmt(x.shape)}`);
  }
  sameDtype(op, x, ...[weight, bias, residual].filter((t): t is Tensor => t !== null));
  if (residual) {
    sameDevice(op, x, residual);
    if (!sameShape(residual.shape, x.shape)) throw new ShapeError(`${op}: residual ${fmt(residual.shape)} should have the input's shape ${fmt(x.shape)} (no broadcasting)`);
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError(`${op}: eps must be a non-negative number, got ${eps} (input ${fmt(x.shape)})`);
  if (x.size === 0 && x.shape[0]! * c > 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} has no voxels to normalise`);
}

/**
 * Per-plane statistics [N·C, 4] = (k, mean − k, 1/sqrt(var + eps), var) (no autograd). The
 * main pass is the tuner's choice (INSTANCE_NORM_MOMENTS), or `variant` where given.
 */
export function instanceNormStats(x: Tensor, eps = 1e-5, variant?: MomentsVariant): Tensor {
  const [n, c] = x.shape as [number, number];
  const planes = n * c;
  const s = x.size / planes;
  const dev = x.device;
  const step = Math.ceil(s / MAX_SAMPLES);
  const ns = Math.ceil(s / step);
  const label = fmt(x.shape);
  const part1 = empty([planes, SAMPLE_LANES], dev, 'instance_norm');
  dev.dispatch(sampleKernel, { inputs: [arg(x)], outputs: [arg(part1)], uniforms: { planes, s, step, ns }, invocations: planes * SAMPLE_LANES, label });
  const moments = variant ?? dev.tuner.choose(momentsRequest(dev, planes, s, x.dtype));
  if (!moments.fits(dev)) throw new ArgumentError(`instanceNormStats: variant "${moments.name}" needs a feature this device lacks (features: ${[...dev.features].join(', ') || 'none'})`);
  const { part2, partials } = moments.run(x, part1, planes, s, ns);
  const stats = empty([planes, 4], dev, 'instance_norm');
  dev.dispatch(statsKernel, { inputs: [arg(x), arg(part1), arg(part2)], outputs: [arg(stats)], uniforms: { planes, s, chunks: partials, ns, eps }, invocations: planes, label });
  part1.dispose();
  part2.dispose();
  return stats;
}

/**
 * Instance normalisation of [N, C, D, H, W], like F.instance_norm (no running stats):
 * per (n, c), y = (x − mean)/sqrt(var + eps)·weight[c] + bias[c] with the biased variance
 * over D·H·W. weight and bias are optional, independently.
 */
export function instanceNorm3d(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return normWithEpilogue('instanceNorm3d', x, weight, bias, eps, null, false);
}

/**
 * relu(instanceNorm3d(x, weight, bias, eps)) as one op: the ReLU runs in the normalising
 * pass, which saves writing the norm's output and reading it back, and its backward masks
 * the upstream gradient inside the norm's own backward passes. Equal to the two ops in value
 * and gradient.
 */
export function instanceNorm3dRelu(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return normWithEpilogue('instanceNorm3dRelu', x, weight, bias, eps, null, true);
}

/**
 * instanceNorm3d(x, weight, bias, eps) + residual (then ReLU with `relu`) as one op: the
 * residual block's tail (norm → + identity → ReLU) in the normalising pass, which saves two
 * (or three, with the ReLU) passes over memory. residual has x's shape. Equal to the
 * unfused ops in value and in the gradients of x, weight, bias and residual.
 */
export function instanceNorm3dAdd(x: Tensor, residual: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5, opts: { relu?: boolean } = {}): Tensor {
  return normWithEpilogue(opts.relu ? 'instanceNorm3dAddRelu' : 'instanceNorm3dAdd', x, weight, bias, eps, residual, opts.relu ?? false);
}

/** The instance norm and its optional epilogue (+ residual, ReLU), forward and autograd. */
function normWithEpilogue(op: string, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, residual: Tensor | null, relu: boolean): Tensor {
  checkArgs(op, x, weight, bias, eps, residual);
  const [n, c] = x.shape as [number, number];
  const y = empty(x.shape, x.device, 'instance_norm', x.dtype);
  if (x.size === 0) return y;
  let stats: Tensor;
  if (x.size <= bindingElems(x.device)) {
    stats = instanceNormStats(x, eps);
    normalize(x, stats, weight, bias, residual, relu, y);
  } else {
    // Beyond one binding: blocks of whole planes, each with its own statistics.
    stats = empty([n * c, 4], x.device, 'instance_norm');
    for (const b of planeBlocks(op, x.shape, bindingElems(x.device), x.device)) {
      noGrad(() =>
        tidy(() => {
          const xb = block(x, b.start, b.shape);
          const st = instanceNormStats(xb, eps);
          place(st, stats, b.plane0 * 4);
          const rb = residual ? block(residual, b.start, b.shape) : null;
          writeRange(y, b.start, b.shape, (yb) => normalize(xb, st, channels(weight, b), channels(bias, b), rb, relu, yb));
        }),
      );
    }
  }
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  // After a ReLU the output is the mask; the residual itself is never needed.
  const save = [x, stats, ...(weight ? [weight] : []), ...(relu ? [y] : [])];
  attachGrad(op.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`), inputs, [y], save, (g, saved) => {
    const [xs, st] = saved;
    const w = weight ? saved[2]! : null;
    const mask = relu ? saved[saved.length - 1]! : null;
    const grads = instanceNormBackward(g[0]!, xs!, st!, w, { mask, residualGrad: !!residual });
    const out: Tensor[] = [grads.dx];
    if (weight) out.push(grads.dw);
    else grads.dw.dispose();
    if (bias) out.push(grads.db);
    else grads.db.dispose();
    // The addition hands its gradient on unchanged: the masked g after a ReLU, else g itself.
    if (residual) out.push(grads.dr ?? g[0]!);
    return out;
  });
  stats.dispose();
  return y;
}

/** y = normalised x (with weight, bias, then + residual and ReLU) for stats of x; all bound whole. */
function normalize(x: Tensor, stats: Tensor, weight: Tensor | null, bias: Tensor | null, residual: Tensor | null, relu: boolean, y: Tensor): void {
  const [n, c] = x.shape as [number, number];
  const s = x.size / (n * c);
  const vec = s % 16 === 0;
  x.device.dispatch(normalizeKernel(!!weight, !!bias, vec, !!residual, relu), {
    inputs: [arg(x), arg(stats), ...(weight ? [arg(weight)] : []), ...(bias ? [arg(bias)] : []), ...(residual ? [arg(residual)] : [])],
    outputs: [arg(y)],
    uniforms: { n: x.size, s, c },
    invocations: vec ? x.size / 16 : x.size,
    label: fmt(x.shape),
  });
}

/** The channels of a block of a per-channel parameter (all of it for whole samples). */
function channels(t: Tensor | null, b: PlaneBlock): Tensor | null {
  if (!t) return null;
  return b.c0 === 0 && b.c1 === t.size ? t : slice(t, 0, b.c0, b.c1);
}

export interface InstanceNormBackwardOptions {
  /** The output of a fused ReLU: g counts only where it is positive. */
  mask?: Tensor | null;
  /** Also return that masked g as `dr` (a fused residual's gradient; only with `mask`). */
  residualGrad?: boolean;
}

export interface InstanceNormGrads {
  dx: Tensor;
  dw: Tensor;
  db: Tensor;
  /** The masked upstream gradient, where asked for (see InstanceNormBackwardOptions). */
  dr: Tensor | null;
}

/** Gradients of instanceNorm3d (and its fused forms) from the upstream g, the input, its stats and the weight (no autograd). */
export function instanceNormBackward(g: Tensor, x: Tensor, stats: Tensor, weight: Tensor | null, opts: InstanceNormBackwardOptions = {}): InstanceNormGrads {
  const mask = opts.mask ?? null;
  const wantDr = !!mask && !!opts.residualGrad;
  if (x.size > bindingElems(x.device)) return backwardByBlocks(g, x, stats, weight, mask, wantDr);
  return backwardBound(g, x, stats, weight, mask, wantDr);
}

/** instanceNormBackward by blocks of whole planes; the weight and bias gradients add up over blocks. */
function backwardByBlocks(g: Tensor, x: Tensor, stats: Tensor, weight: Tensor | null, mask: Tensor | null, wantDr: boolean): InstanceNormGrads {
  const c = x.shape[1]!;
  const dx = empty(x.shape, x.device, 'instance_norm_backward');
  const dr = wantDr ? empty(x.shape, x.device, 'instance_norm_backward') : null;
  const dw = zeros([c], { device: x.device });
  const db = zeros([c], { device: x.device });
  for (const b of planeBlocks('instanceNorm3d backward', x.shape, bindingElems(x.device), x.device)) {
    noGrad(() =>
      tidy(() => {
        const part = (t: Tensor) => block(t, b.start, b.shape);
        const r = backwardBound(part(g), part(x), block(stats, b.plane0 * 4, [b.planes, 4]), channels(weight, b), mask ? part(mask) : null, wantDr);
        place(r.dx, dx, b.start);
        if (dr) place(r.dr!, dr, b.start);
        for (const [total, p] of [[dw, r.dw], [db, r.db]] as const) place(accumulate(block(total, b.c0, [b.c1 - b.c0]), p), total, b.c0);
      }),
    );
  }
  return { dx, dw, db, dr };
}

function backwardBound(g: Tensor, x: Tensor, stats: Tensor, weight: Tensor | null, mask: Tensor | null, wantDr: boolean): InstanceNormGrads {
  const [n, c] = x.shape as [number, number];
  const planes = n * c;
  const s = x.size / planes;
  const dev = x.device;
  const vec = s % 4 === 0;
  const sv = vec ? s / 4 : s;
  const chunks = planeChunks(planes, sv);
  const label = fmt(x.shape);
  const m = mask ? [arg(mask)] : [];
  const part = empty([planes, chunks, 2], dev, 'instance_norm_backward');
  dev.dispatch(backwardPartialKernel(vec, !!mask), { inputs: [arg(g), arg(x), arg(stats), ...m], outputs: [arg(part)], uniforms: { planes, sv, chunks }, invocations: planes * chunks, label });
  const psum = empty([planes, 2], dev, 'instance_norm_backward');
  const dw = empty([c], dev, 'instance_norm_backward');
  const db = empty([c], dev, 'instance_norm_backward');
  dev.dispatch(backwardChannelKernel, { inputs: [arg(part)], outputs: [arg(psum), arg(dw), arg(db)], uniforms: { batch: n, c, chunks }, invocations: c, label });
  part.dispose();
  const dx = empty(x.shape, dev, 'instance_norm_backward');
  const dr = wantDr ? empty(x.shape, dev, 'instance_norm_backward') : null;
  const vec16 = s % 16 === 0;
  dev.dispatch(dxKernel(!!weight, vec16, !!mask, wantDr), {
    inputs: [arg(g), arg(x), arg(stats), arg(psum), ...(weight ? [arg(weight)] : []), ...m],
    outputs: [arg(dx), ...(dr ? [arg(dr)] : [])],
    uniforms: { n: x.size, s, c },
    invocations: vec16 ? x.size / 16 : x.size,
    label,
  });
  psum.dispose();
  return { dx, dw, db, dr };
}
