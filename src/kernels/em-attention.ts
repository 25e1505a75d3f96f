import { empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef, UniformField } from '../tensor/kernel.js';
import { fmt, numel } from '../tensor/shape.js';
import { HnfnetError, LimitError, ShapeError } from '../tensor/errors.js';
import { arg, sameDevice } from './util.js';
import { bindingElems, copyElements } from '../tensor/chunks.js';
import { block, place, writeRange } from './split.js';

/**
 * The EM unit of EMANet (expectation-maximisation attention), forward only.
 *
 * x [N, C, ...spatial] is read as X [N, C, V]; the bases mu [1 or N, C, K]. Each of the T
 * stages is three dispatches:
 *   1. E-step: logits Xᵀ·mu and the softmax over K in one kernel, giving Z, stored
 *      [N, K, V] so that every kernel touching Z reads consecutive voxels in adjacent
 *      invocations;
 *   2. M-step partial sums: X·Z over strided chunks of V, with an extra all-ones row of X
 *      so the same pass yields the column sums Σ_V Z;
 *   3. M-step finish: sums the chunks, divides by (1e-6 + Σ_V Z) (the Zn normalisation,
 *      moved after the product since it is a per-column scale) and L2-normalises over C.
 * The reconstruction y = mu·Zᵀ (last Z, final mu) is one more dispatch. No barriers, no
 * atomics: each invocation owns a register tile of its product and writes it once.
 *
 * Grids are 3-D so that what a workgroup shares (the sample, the block of channels or
 * bases) comes from the workgroup id and is uniform to the compiler. When V and K are
 * multiples of 4 (the usual case), variants bind the tensors as vec4 arrays: one load
 * per 4 voxels or 4 bases, no edge clamps. Measured on lavapipe, storage loads (each a
 * bounds-checked per-lane gather) cost an order of magnitude more than a vec4 fma, so the
 * tiles are sized to reuse each load; larger tiles than these were no faster there and
 * several times slower to compile.
 *
 * EMANet runs the iterations under torch.no_grad(), and so does this op: its outputs carry
 * no gradient, and nothing flows back into x or mu through it. A model that wants
 * EMANet's behaviour feeds x's gradient around the unit (the 1×1 convs before and after
 * it train as usual).
 */

const WG = 64;
/** Register tile of the generic kernels: voxels, bases (E-step), channels (M-step, reconstruction). */
const GV = 4;
const GT = 8;
/** Register tiles of the vec4 kernels: 8 bases (E-step) or channels (reconstruction); 4 × 4 in the M-step. */
const AT = 8;
const MT = 4;

/** Invocations the M-step's partial pass aims for; its number of chunks comes from it. */
const MSTEP_TARGET_INVOCATIONS = 8192;
/** Fewest voxels (vec4s of voxels for the vec4 kernel) one M-step chunk holds, V permitting. */
const MSTEP_MIN_CHUNK = 16;

/** n0: the first sample of the group of samples a dispatch works on. */
const common: UniformField[] = [
  { name: 'n0', type: 'u32' },
  { name: 'c', type: 'u32' },
  { name: 'k', type: 'u32' },
  { name: 'v', type: 'u32' },
];

const range = (n: number) => [...Array(n).keys()];
const comp = ['x', 'y', 'z', 'w'];
const lines = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

/** let name0..name{n-1} = expr(min(base + i, last)). */
function clampedRows(name: string, base: string, last: string, n: number, expr: (m: string) => string, indent = '  '): string {
  return lines(n, (i) => `${indent}let ${name}${i} = ${expr(i === 0 ? `min(${base}, ${last})` : `min(${base} + ${i}u, ${last})`)};`);
}

// ---- generic kernels: any V and K; 4 voxels per invocation with clamped loads ----------

const gvSetup = `let v0 = gid.x * ${GV}u;
  let va = vec4<u32>(v0, min(v0 + 1u, u.v - 1u), min(v0 + 2u, u.v - 1u), min(v0 + 3u, u.v - 1u));`;
const gvLoad = (arr: string, row: string) => `vec4<f32>(${arr}[${row} + va.x], ${arr}[${row} + va.y], ${arr}[${row} + va.z], ${arr}[${row} + va.w])`;
const gvStore = (arr: string, row: string, val: string) =>
  range(4)
    .map((i) => (i === 0 ? `${arr}[${row} + v0] = ${val}.x;` : `if (v0 + ${i}u < u.v) { ${arr}[${row} + v0 + ${i}u] = ${val}.${comp[i]}; }`))
    .join(' ');

/**
 * E-step, any sizes; grid [voxel blocks, samples], each invocation 4 voxels × all K in
 * blocks of 8 bases. Three sweeps over the invocation's own slice of Z (which stays in
 * cache between sweeps): logits and their max, exponentials and their sum, the division.
 * One exp per element; an online softmax would need about twice as many.
 */
const estepGeneric: KernelDef = {
  name: 'em_estep',
  halfStorage: true,
  inputs: ['x', 'mu'],
  outputs: ['z'],
  uniforms: [...common, { name: 'vb', type: 'u32' }, { name: 'mu_bs', type: 'u32' }],
  workgroupSize: WG,
  body: `  if (gid.x >= u.vb) { return; }
  let nl = wid.y;
  ${gvSetup}
  let xb = (u.n0 + nl) * u.c * u.v;
  let mb = (u.n0 + nl) * u.mu_bs;
  let zb = nl * u.k * u.v;
  var m = vec4<f32>(-3.0e38);
  for (var k0 = 0u; k0 < u.k; k0 = k0 + ${GT}u) {
${clampedRows('kc', 'k0', 'u.k - 1u', GT, (m) => m, '    ')}
${lines(GT, (j) => `    var a${j} = vec4<f32>(0.0);`)}
    for (var c = 0u; c < u.c; c = c + 1u) {
      let xv = ${gvLoad('x', 'xb + c * u.v')};
      let mr = mb + c * u.k;
${lines(GT, (j) => `      a${j} = fma(xv, vec4<f32>(mu[mr + kc${j}]), a${j});`)}
    }
${lines(GT, (j) => `    if (k0 + ${j}u < u.k) { m = max(m, a${j}); ${gvStore('z', `zb + (k0 + ${j}u) * u.v`, `a${j}`)} }`)}
  }
  var s = vec4<f32>(0.0);
  for (var k = 0u; k < u.k; k = k + 1u) {
    let e = exp(${gvLoad('z', 'zb + k * u.v')} - m);
    s = s + e;
    ${gvStore('z', 'zb + k * u.v', 'e')}
  }
  let inv = 1.0 / s;
  for (var k = 0u; k < u.k; k = k + 1u) {
    let e = ${gvLoad('z', 'zb + k * u.v')} * inv;
    ${gvStore('z', 'zb + k * u.v', 'e')}
  }`,
};

/**
 * M-step partial sums, any sizes: P[n, chunk, c, k] = Σ_{v in chunk} X[c, v]·Z[k, v],
 * and the column sums Σ_{v in chunk} Z[k, v] in row c = C. Grid [bases, channel blocks
 * of 8, chunks × samples], chunks being contiguous runs of voxels; every channel block
 * sums Z as well (one add per step) and the first one stores it.
 */
const mstepPartialGeneric: KernelDef = {
  name: 'em_mstep_partial',
  halfStorage: true,
  inputs: ['x', 'z'],
  outputs: ['p'],
  uniforms: [...common, { name: 'chunks', type: 'u32' }, { name: 'clen', type: 'u32' }],
  workgroupSize: WG,
  body: `  let k = gid.x;
  let c0 = wid.y * ${GT}u;
  let ch = wid.z % u.chunks;
  let nl = wid.z / u.chunks;
  let xb = (u.n0 + nl) * u.c * u.v;
${clampedRows('xr', 'c0', 'u.c - 1u', GT, (m) => `xb + ${m} * u.v`)}
  let zr = (nl * u.k + min(k, u.k - 1u)) * u.v;
  let v1 = ch * u.clen;
  let v2 = min(v1 + u.clen, u.v);
${lines(GT, (i) => `  var a${i} = 0.0;`)}
  var cs = 0.0;
  for (var v = v1; v < v2; v = v + 1u) {
    let zv = z[zr + v];
    cs = cs + zv;
${lines(GT, (i) => `    a${i} = fma(x[xr${i} + v], zv, a${i});`)}
  }
  if (k >= u.k) { return; }
  let pb = (nl * u.chunks + ch) * (u.c + 1u);
${lines(GT, (i) => `  if (c0 + ${i}u < u.c) { p[(pb + c0 + ${i}u) * u.k + k] = a${i}; }`)}
  if (wid.y == 0u) { p[(pb + u.c) * u.k + k] = cs; }`,
};

/** y[n, c, v] = Σ_k mu[n, c, k]·Z[n, k, v], any sizes; grid [voxel blocks, channel blocks of 8, samples]. */
const reconstructGeneric: KernelDef = {
  name: 'em_reconstruct',
  halfStorage: true,
  inputs: ['mu', 'z'],
  outputs: ['y'],
  uniforms: [...common, { name: 'vb', type: 'u32' }],
  workgroupSize: WG,
  body: `  if (gid.x >= u.vb) { return; }
  let nl = wid.z;
  let c0 = wid.y * ${GT}u;
  ${gvSetup}
  let mb = (u.n0 + nl) * u.c * u.k;
${clampedRows('mr', 'c0', 'u.c - 1u', GT, (m) => `mb + ${m} * u.k`)}
  let zb = nl * u.k * u.v;
${lines(GT, (i) => `  var a${i} = vec4<f32>(0.0);`)}
  for (var k = 0u; k < u.k; k = k + 1u) {
    let zv = ${gvLoad('z', 'zb + k * u.v')};
${lines(GT, (i) => `    a${i} = fma(vec4<f32>(mu[mr${i} + k]), zv, a${i});`)}
  }
  let yb = (u.n0 + nl) * u.c;
${lines(GT, (i) => `  if (c0 + ${i}u < u.c) { ${gvStore('y', `(yb + c0 + ${i}u) * u.v`, `a${i}`)} }`)}`,
};

// ---- vec4 kernels: V and K multiples of 4 ----------------------------------------------

/** The E-step's two vec4s of voxels, q0 = gid.x and q1 = gid.x + vh: adjacent invocations read adjacent vec4s. */
const alignedVoxels = `let xs = u.v / 4u;
  let q0 = gid.x;
  let q1 = min(gid.x + u.vh, xs - 1u);
  let has1 = gid.x + u.vh < xs;`;

/** E-step with vec4 loads of x, Z and mu, 8 voxels × 8 bases per step; grid [voxel vec4 pairs, samples]. */
const estepAligned: KernelDef = {
  name: 'em_estep_vec4',
  halfStorage: true,
  inputs: [
    { name: 'x', type: 'vec4<f32>' },
    { name: 'mu', type: 'vec4<f32>' },
  ],
  outputs: [{ name: 'z', type: 'vec4<f32>' }],
  uniforms: [...common, { name: 'vh', type: 'u32' }, { name: 'mu_bs', type: 'u32' }],
  workgroupSize: WG,
  body: `  if (gid.x >= u.vh) { return; }
  let nl = wid.y;
  ${alignedVoxels}
  let ks = u.k / 4u;
  let xb = (u.n0 + nl) * u.c * xs;
  let mb = (u.n0 + nl) * (u.mu_bs / 4u);
  let zb = nl * u.k * xs;
  var m0 = vec4<f32>(-3.0e38);
  var m1 = vec4<f32>(-3.0e38);
  for (var kq = 0u; kq < ks; kq = kq + 2u) {
    let kq1 = min(kq + 1u, ks - 1u);
${lines(AT, (j) => `    var a${j} = vec4<f32>(0.0);\n    var b${j} = vec4<f32>(0.0);`)}
    for (var c = 0u; c < u.c; c = c + 1u) {
      let xr = xb + c * xs;
      let x0 = x[xr + q0];
      let x1 = x[xr + q1];
      let mr = mb + c * ks;
      let ma = mu[mr + kq];
      let mc = mu[mr + kq1];
${lines(AT, (j) => `      a${j} = fma(x0, vec4<f32>(${j < 4 ? 'ma' : 'mc'}.${comp[j % 4]}), a${j});\n      b${j} = fma(x1, vec4<f32>(${j < 4 ? 'ma' : 'mc'}.${comp[j % 4]}), b${j});`)}
    }
    let zr = zb + kq * 4u * xs;
${lines(4, (j) => `    m0 = max(m0, a${j}); m1 = max(m1, b${j}); z[zr + ${j}u * xs + q0] = a${j}; if (has1) { z[zr + ${j}u * xs + q1] = b${j}; }`)}
    if (kq + 1u < ks) {
${lines(4, (j) => `      m0 = max(m0, a${j + 4}); m1 = max(m1, b${j + 4}); z[zr + ${j + 4}u * xs + q0] = a${j + 4}; if (has1) { z[zr + ${j + 4}u * xs + q1] = b${j + 4}; }`)}
    }
  }
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  for (var k = 0u; k < u.k; k = k + 1u) {
    let zr = zb + k * xs;
    let e0 = exp(z[zr + q0] - m0);
    let e1 = exp(z[zr + q1] - m1);
    s0 = s0 + e0;
    s1 = s1 + e1;
    z[zr + q0] = e0;
    if (has1) { z[zr + q1] = e1; }
  }
  let i0 = 1.0 / s0;
  let i1 = 1.0 / s1;
  for (var k = 0u; k < u.k; k = k + 1u) {
    let zr = zb + k * xs;
    let e0 = z[zr + q0] * i0;
    let e1 = z[zr + q1] * i1;
    z[zr + q0] = e0;
    if (has1) { z[zr + q1] = e1; }
  }`,
};

/**
 * M-step partial sums with vec4 loads: each invocation a 4-row × 4-basis tile over the
 * vec4s chunk, chunk + chunks, ... (adjacent invocations read adjacent vec4s). Row C
 * (and the unused rows past it) read as ones: their products are Σ_V Z. Grid [chunks,
 * tiles, samples]. (Larger tiles were measured: on lavapipe no faster, and several
 * times slower to compile.)
 */
const mstepPartialAligned: KernelDef = {
  name: 'em_mstep_partial_vec4',
  halfStorage: true,
  inputs: [
    { name: 'x', type: 'vec4<f32>' },
    { name: 'z', type: 'vec4<f32>' },
  ],
  outputs: ['p'],
  uniforms: [...common, { name: 'chunks', type: 'u32' }, { name: 'kb', type: 'u32' }],
  workgroupSize: WG,
  body: `  let ch = gid.x;
  if (ch >= u.chunks) { return; }
  let k0 = (wid.y % u.kb) * ${MT}u;
  let c0 = (wid.y / u.kb) * ${MT}u;
  let nl = wid.z;
  let xs = u.v / 4u;
  let xb = (u.n0 + nl) * u.c * xs;
  let zb = nl * u.k * xs;
${clampedRows('xr', 'c0', 'u.c - 1u', MT, (m) => `xb + ${m} * xs`)}
${clampedRows('zr', 'k0', 'u.k - 1u', MT, (m) => `zb + ${m} * xs`)}
${lines(MT, (i) => `  let one${i} = c0 + ${i}u >= u.c;`)}
${lines(MT, (i) => `  var a${i} = vec4<f32>(0.0);`)}
  for (var v = ch; v < xs; v = v + u.chunks) {
${lines(MT, (j) => `    let z${j} = z[zr${j} + v];`)}
${lines(MT, (i) => `    let x${i} = select(x[xr${i} + v], vec4<f32>(1.0), one${i});\n    a${i} = a${i} + vec4<f32>(${range(MT).map((j) => `dot(x${i}, z${j})`).join(', ')});`)}
  }
  let pb = (nl * u.chunks + ch) * (u.c + 1u);
${lines(MT, (i) => `  if (c0 + ${i}u <= u.c) {\n    let pr = (pb + c0 + ${i}u) * u.k + k0;\n   ${range(MT).map((j) => (j === 0 ? ` p[pr] = a${i}.x;` : ` if (k0 + ${j}u < u.k) { p[pr + ${j}u] = a${i}.${comp[j]}; }`)).join('')}\n  }`)}`,
};

/** The reconstruction with vec4 loads: 8 channels × 4 voxels per invocation, 4 bases a step; grid [voxel vec4s, channel blocks, samples]. */
const reconstructAligned: KernelDef = {
  name: 'em_reconstruct_vec4',
  halfStorage: true,
  inputs: [
    { name: 'mu', type: 'vec4<f32>' },
    { name: 'z', type: 'vec4<f32>' },
  ],
  outputs: [{ name: 'y', type: 'vec4<f32>' }],
  uniforms: [...common, { name: 'vb', type: 'u32' }],
  workgroupSize: WG,
  body: `  if (gid.x >= u.vb) { return; }
  let nl = wid.z;
  let c0 = wid.y * ${AT}u;
  let q = gid.x;
  let xs = u.v / 4u;
  let ks = u.k / 4u;
  let mb = (u.n0 + nl) * u.c * ks;
${clampedRows('mr', 'c0', 'u.c - 1u', AT, (m) => `mb + ${m} * ks`)}
  let zb = nl * u.k * xs + q;
${lines(AT, (i) => `  var a${i} = vec4<f32>(0.0);`)}
  for (var kq = 0u; kq < ks; kq = kq + 1u) {
    let zr = zb + kq * 4u * xs;
${lines(4, (j) => `    let z${j} = z[zr${j === 0 ? '' : ` + ${j}u * xs`}];`)}
${lines(AT, (i) => `    let m${i} = mu[mr${i} + kq];\n    a${i} = fma(vec4<f32>(m${i}.x), z0, fma(vec4<f32>(m${i}.y), z1, fma(vec4<f32>(m${i}.z), z2, fma(vec4<f32>(m${i}.w), z3, a${i}))));`)}
  }
  let yb = (u.n0 + nl) * u.c;
${lines(AT, (i) => `  if (c0 + ${i}u < u.c) { y[(yb + c0 + ${i}u) * xs + q] = a${i}; }`)}`,
};

/** Grid [bases, samples], one invocation per (n, k): chunk sums, the Zn scale, then the L2 norm over C. */
const mstepFinalKernel: KernelDef = {
  name: 'em_mstep_final',
  halfStorage: true,
  inputs: ['p'],
  outputs: ['mu'],
  uniforms: [...common, { name: 'chunks', type: 'u32' }],
  workgroupSize: WG,
  body: `  let k = gid.x;
  if (k >= u.k) { return; }
  let nl = wid.y;
  let stride = (u.c + 1u) * u.k;
  let pb = nl * u.chunks * stride + k;
  var cs = 0.0;
  for (var ch = 0u; ch < u.chunks; ch = ch + 1u) { cs = cs + p[pb + ch * stride + u.c * u.k]; }
  let inv = 1.0 / (1e-6 + cs);
  let mb = (u.n0 + nl) * u.c * u.k + k;
  var ss = 0.0;
  for (var c = 0u; c < u.c; c = c + 1u) {
    var a = 0.0;
    for (var ch = 0u; ch < u.chunks; ch = ch + 1u) { a = a + p[pb + ch * stride + c * u.k]; }
    let val = a * inv;
    mu[mb + c * u.k] = val;
    ss = ss + val * val;
  }
  let r = 1.0 / (1e-6 + sqrt(ss));
  for (var c = 0u; c < u.c; c = c + 1u) { mu[mb + c * u.k] = mu[mb + c * u.k] * r; }`,
};

/** Moving average of the bases over the batch's final bases, then (optionally) L2 over C; in place on `b`. */
const emaUpdateKernel: KernelDef = {
  name: 'em_bases_ema',
  inputs: ['bm'],
  outputs: ['b'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'c', type: 'u32' },
    { name: 'k', type: 'u32' },
    { name: 'normalize', type: 'u32' },
    { name: 'keep', type: 'f32' },
    { name: 'take', type: 'f32' },
  ],
  workgroupSize: 64,
  body: `  if (idx >= u.k) { return; }
  var ss = 0.0;
  for (var c = 0u; c < u.c; c = c + 1u) {
    var a = 0.0;
    for (var n = 0u; n < u.n; n = n + 1u) { a = a + bm[(n * u.c + c) * u.k + idx]; }
    let val = u.keep * b[c * u.k + idx] + u.take * a;
    b[c * u.k + idx] = val;
    ss = ss + val * val;
  }
  if (u.normalize != 0u) {
    let r = 1.0 / (1e-6 + sqrt(ss));
    for (var c = 0u; c < u.c; c = c + 1u) { b[c * u.k + idx] = b[c * u.k + idx] * r; }
  }`,
};

/** The kernels of this file, for Device.warmup(). */
export const emAttentionKernels: readonly KernelDef[] = [estepGeneric, estepAligned, mstepPartialGeneric, mstepPartialAligned, mstepFinalKernel, reconstructGeneric, reconstructAligned, emaUpdateKernel];

export interface EMAttentionOptions {
  /** EM iterations T (EMANet's stage_num; default 3). */
  stages?: number;
  /**
   * Samples whose responsibilities Z [K, V] are held at once (default: as many as fit in
   * one storage binding). Z is the op's one large temporary (K/C times x's size per
   * sample); batches beyond the binding limit are processed in groups of samples, each
   * with its own dispatches. An x beyond one binding runs sample by sample, and a sample
   * beyond it in voxel slabs (then this option does not apply).
   */
  samplesPerPass?: number;
  /**
   * Write y over x (x's values are lost; y is returned as a view of x's buffer). The
   * reconstruction reads only Z and the bases, so x is no longer needed by then; this saves
   * one tensor of x's size, the largest of the model (HNF-Netv2's EM unit runs on 480
   * channels at 1/2 scale). For a caller that owns x and uses it for nothing else.
   */
  overwrite?: boolean;
}

export interface EMAttentionResult {
  /** mu·Zᵀ in x's shape (no activation). */
  y: Tensor;
  /** The final bases [N, C, K]. */
  mu: Tensor;
}

function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * EMANet's EM attention on x [N, C, ...spatial] from bases mu [1, C, K] (shared by the
 * batch) or [N, C, K]: `stages` E/M iterations, then the reconstruction. Forward only:
 * the outputs never require grad (see the file comment).
 */
export function emAttention(x: Tensor, mu: Tensor, opts: EMAttentionOptions = {}): EMAttentionResult {
  const stages = opts.stages ?? 3;
  sameDevice('emAttention', x, mu);
  if (x.rank < 2) throw new ShapeError(`emAttention: x must be [N, C, ...spatial], got ${fmt(x.shape)}`);
  const [N, C] = x.shape as [number, number];
  const V = numel(x.shape.slice(2));
  if (mu.rank !== 3 || mu.shape[1] !== C || (mu.shape[0] !== 1 && mu.shape[0] !== N)) {
    throw new ShapeError(`emAttention: bases must be [1, C, K] or [N, C, K] with C = ${C} and N = ${N} from x ${fmt(x.shape)}, got ${fmt(mu.shape)}`);
  }
  const K = mu.shape[2]!;
  if (N === 0 || C === 0 || V === 0 || K === 0) throw new ShapeError(`emAttention: empty input: x ${fmt(x.shape)}, bases ${fmt(mu.shape)}`);
  if (!Number.isInteger(stages) || stages < 1) throw new HnfnetError(`emAttention: stages must be a positive integer, got ${stages}`);
  const m = bindingElems(x.device);
  const overwrite = opts.overwrite ?? false;
  if (x.size <= m && K * V <= m) return emBound(x, mu, stages, opts.samplesPerPass, overwrite);
  // Beyond one binding: sample by sample, and a sample too large for a binding in voxel slabs.
  const y = overwrite ? x.detach() : empty(x.shape, x.device, 'em_attention', x.dtype);
  const muOut = empty([N, C, K], x.device, 'em_attention');
  for (let n = 0; n < N; n++) {
    const mun = mu.shape[0] === 1 ? mu.view(mu.shape) : block(mu, n * C * K, [1, C, K]);
    if (C * V <= m && K * V <= m) {
      const xb = block(x, n * C * V, [1, C, ...x.shape.slice(2)]);
      // Overwriting, a view of x already holds y in place; a copy (an unaligned sample) is placed back.
      const r = emBound(xb, mun, stages, 1, overwrite);
      if (r.y.buffer !== y.buffer) place(r.y, y, n * C * V);
      place(r.mu, muOut, n * C * K);
      [xb, r.y, r.mu].forEach((t) => t.dispose());
    } else emSlabs(x, n, mun, stages, y, muOut);
    mun.dispose();
  }
  return { y, mu: muOut };
}

/** The M-step's chunking for V voxels and `group` samples (see emBound). */
function mstepPlan(V: number, C: number, K: number, group: number, aligned: boolean, maxGrid: number): { chunks: number; clen: number; tiles: number; kb: number } {
  let chunks: number;
  let clen = 0;
  let tiles: number;
  const kb = ceilDiv(K, MT);
  if (aligned) {
    tiles = ceilDiv(C + 1, MT) * kb;
    chunks = Math.max(1, Math.min(ceilDiv(MSTEP_TARGET_INVOCATIONS, tiles * group), ceilDiv(V / 4, MSTEP_MIN_CHUNK)));
    if (chunks > WG) chunks = Math.min(ceilDiv(chunks, WG) * WG, V / 4);
  } else {
    tiles = ceilDiv(C, GT);
    chunks = Math.max(1, Math.min(ceilDiv(MSTEP_TARGET_INVOCATIONS, ceilDiv(K, WG) * WG * tiles * group), ceilDiv(V, MSTEP_MIN_CHUNK), Math.floor(maxGrid / group)));
    clen = ceilDiv(V, chunks);
    chunks = ceilDiv(V, clen);
  }
  return { chunks, clen, tiles, kb };
}

/** One E-step (into z) and M-step partial sums (into p) of samples [n0, n0 + ng) of x, with the bases src. */
function emStage(x: Tensor, src: Tensor, muBs: number, z: Tensor, p: Tensor, n0: number, ng: number, V: number, C: number, K: number, plan: ReturnType<typeof mstepPlan>, label: string): void {
  const device = x.device;
  const base = { n0, c: C, k: K, v: V };
  const wgs = (n: number) => ceilDiv(n, WG);
  const { chunks, clen, tiles, kb } = plan;
  if (V % 4 === 0 && K % 4 === 0) {
    const vh = ceilDiv(V / 4, 2);
    device.dispatch(estepAligned, { inputs: [arg(x), arg(src)], outputs: [arg(z)], uniforms: { ...base, vh, mu_bs: muBs }, workgroups: [wgs(vh), ng, 1], label });
    device.dispatch(mstepPartialAligned, { inputs: [arg(x), arg(z)], outputs: [arg(p)], uniforms: { ...base, chunks, kb }, workgroups: [wgs(chunks), tiles, ng], label });
  } else {
    const vb = ceilDiv(V, GV);
    device.dispatch(estepGeneric, { inputs: [arg(x), arg(src)], outputs: [arg(z)], uniforms: { ...base, vb, mu_bs: muBs }, workgroups: [wgs(vb), ng, 1], label });
    device.dispatch(mstepPartialGeneric, { inputs: [arg(x), arg(z)], outputs: [arg(p)], uniforms: { ...base, chunks, clen }, workgroups: [wgs(K), tiles, chunks * ng], label });
  }
}

function emReconstruct(muOut: Tensor, z: Tensor, y: Tensor, n0: number, ng: number, V: number, C: number, K: number, label: string): void {
  const base = { n0, c: C, k: K, v: V };
  const wgs = (n: number) => ceilDiv(n, WG);
  if (V % 4 === 0 && K % 4 === 0) {
    y.device.dispatch(reconstructAligned, { inputs: [arg(muOut), arg(z)], outputs: [arg(y)], uniforms: { ...base, vb: V / 4 }, workgroups: [wgs(V / 4), ceilDiv(C, AT), ng], label });
  } else {
    y.device.dispatch(reconstructGeneric, { inputs: [arg(muOut), arg(z)], outputs: [arg(y)], uniforms: { ...base, vb: ceilDiv(V, GV) }, workgroups: [wgs(ceilDiv(V, GV)), ceilDiv(C, GT), ng], label });
  }
}

/**
 * Sample n of x in slabs of voxels, each slab a contiguous [1, C, vs] copy (C encoder copies;
 * it is made again for each stage rather than kept, which would double x). The M-step's
 * partial sums of all slabs are gathered before the one final pass, so the bases are
 * those of the whole sample; Z is kept per slab for the reconstruction.
 */
function emSlabs(x: Tensor, n: number, mu0: Tensor, stages: number, y: Tensor, muOut: Tensor): void {
  const [, C] = x.shape as [number, number];
  const V = numel(x.shape.slice(2));
  const K = mu0.shape[2]!;
  const device = x.device;
  const m = bindingElems(device);
  // Slabs of about a 32nd of the sample (a binding at most): the slab copies are this op's
  // largest temporaries, next to an x that is already beyond a binding.
  const slabElems = Math.min(m, Math.max(4 * Math.max(C, K), Math.ceil((C * V) / 32)));
  const vs = Math.floor(slabElems / Math.max(C, K) / 4) * 4;
  const perChunk = (C + 1) * K;
  if (vs < 4 || perChunk > m) {
    throw new LimitError(`emAttention: x ${fmt(x.shape)} with ${K} bases: even a slab of 4 voxels, or one M-step partial sum [${C + 1}, ${K}], exceeds maxStorageBufferBindingSize (${device.limits.maxStorageBufferBindingSize} bytes)`);
  }
  const slabs: [number, number][] = [];
  for (let v0 = 0; v0 < V; v0 += vs) slabs.push([v0, Math.min(V, v0 + vs)]);
  const maxGrid = device.limits.maxComputeWorkgroupsPerDimension;
  const plans = slabs.map(([v0, v1]) => mstepPlan(v1 - v0, C, K, 1, (v1 - v0) % 4 === 0 && K % 4 === 0, maxGrid));
  // All slabs' partial sums must fit one binding for the final pass, and stay about a slab's
  // size (a binding's worth would be one more large temporary beside x): fewer chunks per
  // slab where needed.
  const budget = Math.min(Math.floor(m / perChunk), Math.max(slabs.length, Math.floor(slabElems / perChunk)));
  const total = plans.reduce((a, p) => a + p.chunks, 0);
  if (total > budget) {
    if (slabs.length > budget) throw new LimitError(`emAttention: x ${fmt(x.shape)} needs ${slabs.length} voxel slabs, more M-step partial sums than one binding holds`);
    const each = Math.floor(budget / slabs.length);
    slabs.forEach(([v0, v1], i) => {
      const aligned = (v1 - v0) % 4 === 0 && K % 4 === 0;
      const p = plans[i]!;
      p.chunks = Math.min(p.chunks, each);
      if (!aligned) {
        p.clen = ceilDiv(v1 - v0, p.chunks);
        p.chunks = ceilDiv(v1 - v0, p.clen);
      }
    });
  }
  const offsets = plans.map((_, i) => plans.slice(0, i).reduce((a, p) => a + p.chunks, 0));
  const allChunks = plans.reduce((a, p) => a + p.chunks, 0);
  const xSlab = (v0: number, v1: number): Tensor => {
    const t = empty([1, C, v1 - v0], device, 'em_attention', x.dtype);
    for (let c = 0; c < C; c++) copyElements(x, (n * C + c) * V + v0, t, c * (v1 - v0), v1 - v0);
    return t;
  };
  const what = `x ${fmt(x.shape)} sample ${n} in ${slabs.length} slabs`;
  const zs = slabs.map(([v0, v1]) => empty([1, K, v1 - v0], device, 'em_attention'));
  const mun = empty([1, C, K], device, 'em_attention');
  for (let t = 0; t < stages; t++) {
    const all = empty([1, allChunks, C + 1, K], device, 'em_attention');
    slabs.forEach(([v0, v1], i) => {
      const xs = xSlab(v0, v1);
      writeRange(all, offsets[i]! * perChunk, [1, plans[i]!.chunks, C + 1, K], (p) =>
        emStage(xs, t === 0 ? mu0 : mun, 0, zs[i]!, p, 0, 1, v1 - v0, C, K, plans[i]!, `${what} E-step ${t + 1}`),
      );
      xs.dispose();
    });
    device.dispatch(mstepFinalKernel, { inputs: [arg(all)], outputs: [arg(mun)], uniforms: { n0: 0, c: C, k: K, v: V, chunks: allChunks }, workgroups: [ceilDiv(K, WG), 1, 1], label: `${what} M-step ${t + 1}` });
    all.dispose();
  }
  slabs.forEach(([v0, v1], i) => {
    const ys = empty([1, C, v1 - v0], device, 'em_attention', y.dtype);
    emReconstruct(mun, zs[i]!, ys, 0, 1, v1 - v0, C, K, `${what} reconstruction`);
    for (let c = 0; c < C; c++) copyElements(ys, c * (v1 - v0), y, (n * C + c) * V + v0, v1 - v0);
    ys.dispose();
    zs[i]!.dispose();
  });
  place(mun, muOut, n * C * K);
  mun.dispose();
}

/** emAttention where x and one sample's Z fit a binding: groups of samples share a dispatch. */
function emBound(x: Tensor, mu: Tensor, stages: number, samplesPerPass: number | undefined, overwrite: boolean): EMAttentionResult {
  const [N, C] = x.shape as [number, number];
  const V = numel(x.shape.slice(2));
  const K = mu.shape[2]!;
  const device = x.device;
  const lim = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const zBytes = K * V * 4;
  if (zBytes > lim) {
    throw new LimitError(`emAttention: the responsibilities of one sample, [${K}, ${V}] (K × voxels of x ${fmt(x.shape)}), need ${zBytes} bytes, more than the device's storage binding limit (${lim} bytes)`);
  }
  const group = Math.max(1, Math.min(N, samplesPerPass ?? N, Math.floor(lim / zBytes)));

  const y = overwrite ? x.detach() : empty(x.shape, device, 'em_attention', x.dtype);
  const muOut = empty([N, C, K], device, 'em_attention');
  const z = empty([group, K, V], device, 'em_attention');
  const plan = mstepPlan(V, C, K, group, V % 4 === 0 && K % 4 === 0, device.limits.maxComputeWorkgroupsPerDimension);
  const p = empty([group, plan.chunks, C + 1, K], device, 'em_attention');
  const what = `x ${fmt(x.shape)} bases ${fmt(mu.shape)}`;
  for (let n0 = 0; n0 < N; n0 += group) {
    const ng = Math.min(group, N - n0);
    for (let t = 0; t < stages; t++) {
      const src = t === 0 ? mu : muOut;
      const muBs = t === 0 && mu.shape[0] === 1 ? 0 : C * K;
      emStage(x, src, muBs, z, p, n0, ng, V, C, K, plan, `${what} E-step ${t + 1}`);
      device.dispatch(mstepFinalKernel, { inputs: [arg(p)], outputs: [arg(muOut)], uniforms: { n0, c: C, k: K, v: V, chunks: plan.chunks }, workgroups: [ceilDiv(K, WG), ng, 1], label: `${what} M-step ${t + 1}` });
    }
    emReconstruct(muOut, z, y, n0, ng, V, C, K, `${what} reconstruction`);
  }
  z.dispose();
  p.dispose();
  return { y, mu: muOut };
}

export interface EMABasesOptions {
  /** L2-normalise the averaged bases over C, as EMANet keeps them (default true). */
  normalize?: boolean;
  /** Write into `bases`' own buffer and return `bases` (default: a new tensor). */
  inPlace?: boolean;
}

/**
 * The moving average of the bases: momentum·bases + (1 − momentum)·mean_N(batchMu), then
 * mu / (1e-6 + ‖mu‖₂ over C) unless `normalize` is false. bases [1, C, K], batchMu
 * [N, C, K] (emAttention's `mu`). Not recorded by autograd. By default a new tensor is
 * returned and `bases` is untouched; with `inPlace` the update lands in bases' buffer
 * (views of it see the change) and `bases` itself is returned.
 */
export function emaUpdateBases(bases: Tensor, batchMu: Tensor, momentum = 0.9, opts: EMABasesOptions = {}): Tensor {
  sameDevice('emaUpdateBases', bases, batchMu);
  if (bases.rank !== 3 || bases.shape[0] !== 1 || batchMu.rank !== 3 || batchMu.shape[1] !== bases.shape[1] || batchMu.shape[2] !== bases.shape[2]) {
    throw new ShapeError(`emaUpdateBases: expected bases [1, C, K] and batch bases [N, C, K], got ${fmt(bases.shape)} and ${fmt(batchMu.shape)}`);
  }
  const [N, C, K] = batchMu.shape as [number, number, number];
  if (N === 0) throw new ShapeError(`emaUpdateBases: batch bases ${fmt(batchMu.shape)} are empty`);
  if (!(momentum >= 0 && momentum <= 1)) throw new HnfnetError(`emaUpdateBases: momentum must be in [0, 1], got ${momentum}`);
  const device = bases.device;
  let out = bases;
  if (!opts.inPlace) {
    out = empty(bases.shape, device, 'ema_update_bases');
    if (bases.size > 0) device.copy(bases.buffer, 0, out.buffer, 0, bases.byteSize);
  }
  device.dispatch(emaUpdateKernel, {
    inputs: [arg(batchMu)],
    outputs: [arg(out)],
    uniforms: { n: N, c: C, k: K, normalize: opts.normalize === false ? 0 : 1, keep: momentum, take: (1 - momentum) / N },
    invocations: K,
    label: `bases ${fmt(bases.shape)} batch ${fmt(batchMu.shape)}`,
  });
  return out;
}
