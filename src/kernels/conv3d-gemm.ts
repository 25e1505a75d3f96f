import { empty, zeros, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { KernelDef, UniformValues } from '../tensor/kernel.js';
import { bindingElems } from '../tensor/chunks.js';
import { ArgumentError } from '../tensor/errors.js';
import { arg } from './util.js';
import { sum } from './reduce.js';
import { describe, outShape, type ConvGeometry } from './conv3d-geometry.js';
import { convShapeUniforms, directForward, directInputGrad, directKernels, directWeightGrad } from './conv3d-direct.js';
import type { ConvPasses } from './conv3d-split.js';

/**
 * conv3d as implicit GEMM with workgroup-shared tiles, the shape GPUs are fast at:
 *
 * - forward: y[m, n]  = Σ_k x̂[m, k] · w[n, k]     m: output voxels, n: Co, k: (Ci, taps)
 * - dgrad:   per stride phase (input positions ≡ a mod s), dx[m, n] = Σ_k ĝ[m, k] · w[k, n]
 *            over only the taps that reach that phase (m: the phase's voxels, n: Ci,
 *            k: (Co, its taps)), so a strided dgrad does no multiply by the zeros a
 *            dilated dy would hold;
 * - wgrad:   dw[m, n] = Σ_k gy[m, k] · x̂[k, n]    m: Co, n: (Ci, taps), k: voxels, split
 *            into chunks (split-K) whose partial sums `sum` adds.
 *
 * x̂ and ĝ are never made: the operands are gathered from the plain tensors with bounds
 * tests (the padding is those tests), so no pass makes a copy. One workgroup owns a
 * bm × bn output tile and walks K in chunks of bk, each chunk staged into workgroup
 * memory by all invocations together, then each invocation accumulates its tm × tn
 * register sub-tile from the staged chunk. The operand rows an invocation stages do not
 * change along K, so their index math (the divisions) is done once per invocation.
 *
 * Written for GPUs and not timed on one here (only lavapipe and SwiftShader were at hand);
 * on a CPU adapter the tiled kernels (conv3d-tiled.ts) are faster.
 */

/** One tiling of the GEMM kernels. */
export interface GemmTiles {
  /** Output tile rows per workgroup (voxels for forward and dgrad, Co for wgrad). */
  bm: number;
  /** Output tile columns per workgroup (channels for forward and dgrad, (Ci, taps) for wgrad). */
  bn: number;
  /** Reduction chunk staged into workgroup memory per step. */
  bk: number;
  /** Register sub-tile per invocation: tm rows × tn columns. */
  tm: number;
  tn: number;
}

/**
 * Candidate tilings for the tuner (none timed on a GPU here). 64×64 with 4×4 per invocation
 * is the classic shape for wide layers; 64×32 suits Co = 32; 32×32 with 64 invocations keeps
 * more workgroups in flight on small volumes. All stage 4–8 KiB of workgroup memory.
 */
export const GEMM_TILES = {
  t64x64: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  t64x32: { bm: 64, bn: 32, bk: 16, tm: 4, tn: 2 },
  t32x32: { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 },
} as const satisfies Record<string, GemmTiles>;

export const DEFAULT_GEMM_TILES: GemmTiles = GEMM_TILES.t64x64;

const invocationsOf = (t: GemmTiles): number => (t.bm / t.tm) * (t.bn / t.tn);
const workgroupBytes = (t: GemmTiles): number => 4 * t.bk * (t.bm + t.bn);

/** Throws unless the tiling is one the template can generate (each invocation stages whole rows). */
export function checkGemmTiles(t: GemmTiles): void {
  const n = invocationsOf(t);
  const ok =
    [t.bm, t.bn, t.bk, t.tm, t.tn].every((v) => Number.isInteger(v) && v >= 1) &&
    t.bm % t.tm === 0 &&
    t.bn % t.tn === 0 &&
    n % t.bm === 0 &&
    n % t.bn === 0 &&
    (t.bm * t.bk) % n === 0 &&
    (t.bn * t.bk) % n === 0;
  if (!ok) {
    throw new ArgumentError(
      `conv3d gemm: tiling ${JSON.stringify(t)} is not supported: bm/tm · bn/tn invocations must be a multiple of bm and of bn and divide bm·bk and bn·bk`,
    );
  }
}

// ---- the GEMM template -----------------------------------------------------------------------

/**
 * A pass supplies, as WGSL: `rowA(m) -> vec4<i32>` and `colB(n) -> vec4<i32>` (per-row and
 * per-column index math, done once), `loadA(ra, k)`, `loadB(rb, k)` (0 outside the tensor
 * or past M / N) and `store(m, n, chunk, v)` (called only for m < u.m, n < u.n).
 */
interface GemmPass {
  name: string;
  inputs: string[];
  outputs: string[];
  /** Pass-specific uniforms; m, n, k, kper, mtiles, ntiles are added. */
  uniforms: string[];
  code: string;
}

const compiled = new Map<string, KernelDef>();

function gemmKernel(pass: GemmPass, t: GemmTiles): KernelDef {
  const key = `${pass.name}:${JSON.stringify(t)}`;
  let def = compiled.get(key);
  if (def) return def;
  checkGemmTiles(t);
  const { bm, bn, bk, tm, tn } = t;
  const inv = invocationsOf(t);
  const R = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  // Invocations along M are the fast index, so the stores of forward and dgrad (voxels
  // contiguous) coalesce; each invocation's rows and columns are strided by the sub-tile
  // count so neighbouring invocations read neighbouring workgroup words.
  const sm = bm / tm;
  const sn = bn / tn;
  const acc = (i: number, j: number): string => `c${i}_${j}`;
  def = {
    name: `conv3d_gemm_${pass.name}_${bm}x${bn}x${bk}_${tm}x${tn}`,
    inputs: pass.inputs,
    outputs: pass.outputs,
    uniforms: [...pass.uniforms, 'm', 'n', 'k', 'kper', 'mtiles', 'ntiles'].map((name) => ({ name, type: 'i32' as const })),
    workgroupSize: inv,
    helpers: `var<workgroup> sa: array<f32, ${bk * bm}>;
var<workgroup> sb: array<f32, ${bk * bn}>;
${pass.code}`,
    body: `  let tid = i32(lid.x);
  let mt = i32(wid.y * nwg.x + wid.x);
  if (mt >= u.mtiles) { return; }
  let nt = i32(wid.z) % u.ntiles;
  let chunk = i32(wid.z) / u.ntiles;
  let m0 = mt * ${bm};
  let n0 = nt * ${bn};
  let kb = chunk * u.kper;
  let ke = min(u.k, kb + u.kper);
  let ra = rowA(m0 + tid % ${bm});
  let rb = colB(n0 + tid % ${bn});
  let im = tid % ${sm};
  let jn = tid / ${sm};
${R(tm, (i) => R(tn, (j) => `  var ${acc(i, j)} = 0.0;`))}
  for (var k0 = kb; k0 < ke; k0 += ${bk}) {
    for (var s = 0; s < ${(bm * bk) / inv}; s++) {
      let kk = tid / ${bm} + s * ${inv / bm};
      var v = 0.0;
      if (k0 + kk < ke) { v = loadA(ra, k0 + kk); }
      sa[kk * ${bm} + tid % ${bm}] = v;
    }
    for (var s = 0; s < ${(bn * bk) / inv}; s++) {
      let kk = tid / ${bn} + s * ${inv / bn};
      var v = 0.0;
      if (k0 + kk < ke) { v = loadB(rb, k0 + kk); }
      sb[kk * ${bn} + tid % ${bn}] = v;
    }
    workgroupBarrier();
    for (var kk = 0; kk < ${bk}; kk++) {
${R(tm, (i) => `      let a${i} = sa[kk * ${bm} + im + ${i * sm}];`)}
${R(tn, (j) => `      let b${j} = sb[kk * ${bn} + jn + ${j * sn}];`)}
${R(tm, (i) => R(tn, (j) => `      ${acc(i, j)} = fma(a${i}, b${j}, ${acc(i, j)});`))}
    }
    workgroupBarrier();
  }
${R(tm, (i) => R(tn, (j) => `  if (m0 + im + ${i * sm} < u.m && n0 + jn + ${j * sn} < u.n) { store(m0 + im + ${i * sm}, n0 + jn + ${j * sn}, chunk, ${acc(i, j)}); }`))}`,
  };
  compiled.set(key, def);
  return def;
}

interface GemmLaunch {
  m: number;
  n: number;
  k: number;
  /** Split-K chunks (wgrad); 1 otherwise. */
  chunks: number;
}

function kPerChunk(l: GemmLaunch, t: GemmTiles): number {
  return Math.max(t.bk, Math.ceil(Math.ceil(l.k / l.chunks) / t.bk) * t.bk);
}

function launch(device: Device, def: KernelDef, l: GemmLaunch, t: GemmTiles, inputs: Tensor[], outputs: Tensor[], uniforms: UniformValues, label: string): void {
  const mtiles = Math.ceil(l.m / t.bm);
  const ntiles = Math.ceil(l.n / t.bn);
  if (mtiles === 0 || ntiles === 0) return;
  const gx = Math.min(mtiles, device.limits.maxComputeWorkgroupsPerDimension);
  device.dispatch(def, {
    inputs: inputs.map(arg),
    outputs: outputs.map(arg),
    uniforms: { ...uniforms, m: l.m, n: l.n, k: l.k, kper: kPerChunk(l, t), mtiles, ntiles },
    workgroups: [gx, Math.ceil(mtiles / gx), ntiles * l.chunks],
    label,
  });
}

// ---- forward -----------------------------------------------------------------------------

const geom = ['ci', 'co', 'd', 'h', 'w', 'kd', 'kh', 'kw', 'sd', 'sh', 'sw', 'pd', 'ph', 'pw', 'od', 'oh', 'ow'];

/** A tap index k = (ci, a, e, f) of the forward and wgrad. */
const gatherX = `fn tapOf(k: i32) -> vec4<i32> {
  let f = k % u.kw;
  let e = (k / u.kw) % u.kh;
  let a = (k / (u.kw * u.kh)) % u.kd;
  return vec4<i32>(k / (u.kw * u.kh * u.kd), a, e, f);
}
// x at output voxel r = (b, o*s - p) and tap t = (ci, a, e, f); zero in the padding.
fn gatherX(r: vec4<i32>, t: vec4<i32>) -> f32 {
  let z = r.y + t.y;
  let y = r.z + t.z;
  let x = r.w + t.w;
  if (r.x < 0 || z < 0 || z >= u.d || y < 0 || y >= u.h || x < 0 || x >= u.w) { return 0.0; }
  return xs[(((r.x * u.ci + t.x) * u.d + z) * u.h + y) * u.w + x];
}
fn outVoxel(m: i32) -> vec4<i32> {
  let ox = m % u.ow;
  let oy = (m / u.ow) % u.oh;
  let oz = (m / (u.ow * u.oh)) % u.od;
  let b = m / (u.ow * u.oh * u.od);
  return vec4<i32>(b, oz * u.sd - u.pd, oy * u.sh - u.ph, ox * u.sw - u.pw);
}`;

/** The epilogue applied to each output element of the forward. */
export type GemmActivation = 'none' | 'relu';

function forwardPass(bias: boolean, activation: GemmActivation): GemmPass {
  // Not max(v, 0): WGSL's max may drop a NaN, where relu (unary.ts) keeps it.
  const act = activation === 'relu' ? 'select(v, 0.0, v < 0.0)' : 'v';
  return {
    name: `fwd${bias ? '_bias' : ''}${activation === 'relu' ? '_relu' : ''}`,
    inputs: bias ? ['xs', 'wt', 'bias'] : ['xs', 'wt'],
    outputs: ['ys'],
    uniforms: geom,
    code: `${gatherX}
fn rowA(m: i32) -> vec4<i32> {
  if (m >= u.m) { return vec4<i32>(-1, 0, 0, 0); }
  return outVoxel(m);
}
fn colB(n: i32) -> vec4<i32> { return vec4<i32>(select(n, -1, n >= u.n), 0, 0, 0); }
fn loadA(r: vec4<i32>, k: i32) -> f32 { return gatherX(r, tapOf(k)); }
fn loadB(r: vec4<i32>, k: i32) -> f32 {
  if (r.x < 0) { return 0.0; }
  return wt[r.x * u.k + k];
}
fn store(m: i32, n: i32, chunk: i32, acc: f32) {
  let vox = u.od * u.oh * u.ow;
  let v = acc${bias ? ' + bias[n]' : ''};
  ys[((m / vox) * u.co + n) * vox + m % vox] = ${act};
}`,
  };
}

export function gemmForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, tiles: GemmTiles = DEFAULT_GEMM_TILES, activation: GemmActivation = 'none'): Tensor {
  const y = empty(outShape(g), x.device, 'conv3d');
  const taps = g.k[0] * g.k[1] * g.k[2];
  const def = gemmKernel(forwardPass(!!bias, activation), tiles);
  const l = { m: g.n * g.out[0] * g.out[1] * g.out[2], n: g.co, k: g.ci * taps, chunks: 1 };
  launch(x.device, def, l, tiles, bias ? [x, weight, bias] : [x, weight], [y], convShapeUniforms(g), describe(g));
  return y;
}

// ---- input gradient ------------------------------------------------------------------------

/** One stride phase along one axis: inputs a + s·q (q < count) and the taps r + s·j (j < taps) that reach them. */
interface AxisPhase {
  a: number;
  count: number;
  r: number;
  taps: number;
  /** dy index of input q and tap j: q − j + c. */
  c: number;
}

function axisPhases(size: number, k: number, s: number, p: number): AxisPhase[] {
  const out: AxisPhase[] = [];
  for (let a = 0; a < Math.min(s, size); a++) {
    const r = (a + p) % s;
    out.push({ a, count: Math.ceil((size - a) / s), r, taps: r < k ? Math.ceil((k - r) / s) : 0, c: (a + p - r) / s });
  }
  return out;
}

/** The stride phases of the input gradient (one for stride 1), each one GEMM. */
export function dgradPhases(g: ConvGeometry): [AxisPhase, AxisPhase, AxisPhase][] {
  const [pz, py, px] = [0, 1, 2].map((i) => axisPhases(g.in[i]!, g.k[i]!, g.stride[i]!, g.pad[i]!)) as [AxisPhase[], AxisPhase[], AxisPhase[]];
  return pz.flatMap((fz) => py.flatMap((fy) => px.map((fx): [AxisPhase, AxisPhase, AxisPhase] => [fz, fy, fx])));
}

const dgradUniforms = [...geom, 'qd', 'qh', 'qw', 'md', 'mh', 'mw', 'rd', 'rh', 'rw', 'ad', 'ah', 'aw', 'cd', 'ch', 'cw'];

/** A reduction index k = (co, jz, jy, jx) over the phase's taps. */
const dgradCode = `fn phaseTap(k: i32) -> vec4<i32> {
  let jx = k % u.mw;
  let jy = (k / u.mw) % u.mh;
  let jz = (k / (u.mw * u.mh)) % u.md;
  return vec4<i32>(k / (u.mw * u.mh * u.md), jz, jy, jx);
}
fn phaseVoxel(m: i32) -> vec4<i32> {
  let qx = m % u.qw;
  let qy = (m / u.qw) % u.qh;
  let qz = (m / (u.qw * u.qh)) % u.qd;
  return vec4<i32>(m / (u.qw * u.qh * u.qd), qz, qy, qx);
}
fn rowA(m: i32) -> vec4<i32> {
  if (m >= u.m) { return vec4<i32>(-1, 0, 0, 0); }
  let q = phaseVoxel(m);
  return vec4<i32>(q.x, q.y + u.cd, q.z + u.ch, q.w + u.cw);
}
fn colB(n: i32) -> vec4<i32> { return vec4<i32>(select(n, -1, n >= u.n), 0, 0, 0); }
fn loadA(r: vec4<i32>, k: i32) -> f32 {
  let t = phaseTap(k);
  let z = r.y - t.y;
  let y = r.z - t.z;
  let x = r.w - t.w;
  if (r.x < 0 || z < 0 || z >= u.od || y < 0 || y >= u.oh || x < 0 || x >= u.ow) { return 0.0; }
  return gy[(((r.x * u.co + t.x) * u.od + z) * u.oh + y) * u.ow + x];
}
fn loadB(r: vec4<i32>, k: i32) -> f32 {
  if (r.x < 0) { return 0.0; }
  let t = phaseTap(k);
  let a = u.rd + u.sd * t.y;
  let e = u.rh + u.sh * t.z;
  let f = u.rw + u.sw * t.w;
  return wt[(((t.x * u.ci + r.x) * u.kd + a) * u.kh + e) * u.kw + f];
}
fn store(m: i32, n: i32, chunk: i32, v: f32) {
  let q = phaseVoxel(m);
  let z = u.ad + u.sd * q.y;
  let y = u.ah + u.sh * q.z;
  let x = u.aw + u.sw * q.w;
  gx[(((q.x * u.ci + n) * u.d + z) * u.h + y) * u.w + x] = v;
}`;

const dgradPass: GemmPass = { name: 'dgrad', inputs: ['gy', 'wt'], outputs: ['gx'], uniforms: dgradUniforms, code: dgradCode };

export function gemmInputGrad(gy: Tensor, weight: Tensor, g: ConvGeometry, tiles: GemmTiles = DEFAULT_GEMM_TILES): Tensor {
  const gx = empty([g.n, g.ci, ...g.in], gy.device, 'conv3d_dgrad');
  const def = gemmKernel(dgradPass, tiles);
  const base = convShapeUniforms(g);
  for (const [fz, fy, fx] of dgradPhases(g)) {
    // A phase no tap reaches still runs, with K = 0: it writes its zeros.
    const taps = fz.taps * fy.taps * fx.taps;
    const l = { m: g.n * fz.count * fy.count * fx.count, n: g.ci, k: g.co * taps, chunks: 1 };
    const uniforms = {
      ...base,
      qd: fz.count,
      qh: fy.count,
      qw: fx.count,
      md: fz.taps,
      mh: fy.taps,
      mw: fx.taps,
      rd: fz.r,
      rh: fy.r,
      rw: fx.r,
      ad: fz.a,
      ah: fy.a,
      aw: fx.a,
      cd: fz.c,
      ch: fy.c,
      cw: fx.c,
    };
    launch(gy.device, def, l, tiles, [gy, weight], [gx], uniforms, `dgrad ${describe(g)} phase ${fz.a},${fy.a},${fx.a}`);
  }
  return gx;
}

// ---- weight gradient ------------------------------------------------------------------------

const wgradCode = `${gatherX}
fn rowA(m: i32) -> vec4<i32> { return vec4<i32>(select(m, -1, m >= u.m), 0, 0, 0); }
fn colB(n: i32) -> vec4<i32> {
  if (n >= u.n) { return vec4<i32>(-1, 0, 0, 0); }
  return tapOf(n);
}
fn loadA(r: vec4<i32>, k: i32) -> f32 {
  if (r.x < 0) { return 0.0; }
  let vox = u.od * u.oh * u.ow;
  return gy[((k / vox) * u.co + r.x) * vox + k % vox];
}
fn loadB(r: vec4<i32>, k: i32) -> f32 {
  if (r.x < 0) { return 0.0; }
  return gatherX(outVoxel(k), r);
}
fn store(m: i32, n: i32, chunk: i32, v: f32) {
  part[(chunk * u.m + m) * u.n + n] = v;
}`;

const wgradPass: GemmPass = { name: 'wgrad', inputs: ['xs', 'gy'], outputs: ['part'], uniforms: geom, code: wgradCode };

/**
 * Split-K chunks for the weight gradient: enough workgroups to fill a large GPU (~1024),
 * each chunk at least 4 K-steps long, partial sums within one binding and 16 M floats.
 */
export function wgradChunks(g: ConvGeometry, tiles: GemmTiles, device: Device): number {
  const taps = g.k[0] * g.k[1] * g.k[2];
  const outputs = g.co * g.ci * taps;
  const voxels = g.n * g.out[0] * g.out[1] * g.out[2];
  const tilesMN = Math.ceil(g.co / tiles.bm) * Math.ceil((g.ci * taps) / tiles.bn);
  const byDevice = Math.ceil(1024 / tilesMN);
  const byLength = Math.floor(voxels / (4 * tiles.bk));
  const byMemory = Math.floor(Math.min(bindingElems(device), 16 << 20) / Math.max(1, outputs));
  const byGrid = Math.floor(device.limits.maxComputeWorkgroupsPerDimension / Math.ceil((g.ci * taps) / tiles.bn));
  return Math.max(1, Math.min(byDevice, byLength, byMemory, byGrid));
}

export function gemmWeightGrad(x: Tensor, gy: Tensor, g: ConvGeometry, tiles: GemmTiles = DEFAULT_GEMM_TILES): Tensor {
  const device = x.device;
  const taps = g.k[0] * g.k[1] * g.k[2];
  const wShape = [g.co, g.ci, ...g.k];
  const voxels = g.n * g.out[0] * g.out[1] * g.out[2];
  if (voxels === 0) return zeros(wShape, { device });
  const requested = wgradChunks(g, tiles, device);
  const l = { m: g.co, n: g.ci * taps, k: voxels, chunks: requested };
  // Chunks rounded to whole K-steps may cover K in fewer chunks than asked.
  l.chunks = Math.ceil(voxels / kPerChunk(l, tiles));
  const part = empty([l.chunks, g.co * g.ci * taps], device, 'conv3d_wgrad');
  launch(device, gemmKernel(wgradPass, tiles), l, tiles, [x, gy], [part], convShapeUniforms(g), `wgrad ${describe(g)}`);
  if (l.chunks === 1) {
    const gw = part.view(wShape);
    part.dispose();
    return gw;
  }
  const s = sum(part, 0);
  part.dispose();
  const gw = s.view(wShape);
  s.dispose();
  return gw;
}

// ---- fitting, kernels, passes --------------------------------------------------------------

/**
 * Whether each GEMM pass can run for `g` on `device`: bindings (forward 4, others 3), the
 * workgroup's shared tiles and invocation count, and every tensor within one binding (the
 * passes make no copies; the wgrad partials are sized to fit by `wgradChunks`).
 */
export function gemmFits(g: ConvGeometry, device: Device, tiles: GemmTiles = DEFAULT_GEMM_TILES): { forward: boolean; inputGrad: boolean; weightGrad: boolean } {
  const lim = device.limits;
  const inv = invocationsOf(tiles);
  const kernelOk =
    workgroupBytes(tiles) <= lim.maxComputeWorkgroupStorageSize &&
    inv <= lim.maxComputeInvocationsPerWorkgroup &&
    inv <= lim.maxComputeWorkgroupSizeX &&
    g.n > 0 &&
    g.ci > 0 &&
    g.co > 0;
  if (!kernelOk) return { forward: false, inputGrad: false, weightGrad: false };
  const elems = bindingElems(device);
  const taps = g.k[0] * g.k[1] * g.k[2];
  const x = g.n * g.ci * g.in[0] * g.in[1] * g.in[2];
  const y = g.n * g.co * g.out[0] * g.out[1] * g.out[2];
  const w = g.co * g.ci * taps;
  const plain = x <= elems && y <= elems && w <= elems;
  const zTiles = (n: number): boolean => Math.ceil(n / tiles.bn) <= lim.maxComputeWorkgroupsPerDimension;
  return {
    forward: plain && lim.maxStorageBuffersPerShaderStage >= 4 && zTiles(g.co),
    inputGrad: plain && lim.maxStorageBuffersPerShaderStage >= 3 && zTiles(g.ci),
    weightGrad: plain && lim.maxStorageBuffersPerShaderStage >= 3 && zTiles(g.ci * taps),
  };
}

/** Every kernel the GEMM passes compile (for `device.warmup`), forward with and without bias. */
export function gemmKernels(tiles: GemmTiles = DEFAULT_GEMM_TILES, activation: GemmActivation = 'none'): KernelDef[] {
  return [gemmKernel(forwardPass(false, activation), tiles), gemmKernel(forwardPass(true, activation), tiles), gemmKernel(dgradPass, tiles), gemmKernel(wgradPass, tiles)];
}

/** What `gemmPasses(tiles)` compiles for `g` on `device`: the GEMM kernels, plus the direct ones where a pass falls back. */
export function gemmWarmupKernels(g: ConvGeometry, device: Device, tiles: GemmTiles = DEFAULT_GEMM_TILES): KernelDef[] {
  const f = gemmFits(g, device, tiles);
  return [...gemmKernels(tiles), ...(f.forward && f.inputGrad && f.weightGrad ? [] : directKernels())];
}

/** The GEMM passes with this tiling, each falling back to the direct kernel where `gemmFits` says no. */
export function gemmPasses(tiles: GemmTiles = DEFAULT_GEMM_TILES): ConvPasses {
  checkGemmTiles(tiles);
  return {
    forward: (x, w, b, g) => (gemmFits(g, x.device, tiles).forward ? gemmForward(x, w, b, g, tiles) : directForward(x, w, b, g)),
    inputGrad: (gy, w, g) => (gemmFits(g, gy.device, tiles).inputGrad ? gemmInputGrad(gy, w, g, tiles) : directInputGrad(gy, w, g)),
    weightGrad: (x, gy, g) => (gemmFits(g, x.device, tiles).weightGrad ? gemmWeightGrad(x, gy, g, tiles) : directWeightGrad(x, gy, g)),
  };
}

export const GEMM_PASSES: ConvPasses = gemmPasses(DEFAULT_GEMM_TILES);
