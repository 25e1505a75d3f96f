import { empty, zeros, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { KernelDef } from '../tensor/kernel.js';
import { arg } from './util.js';
import { sum } from './reduce.js';
import { describe, type ConvGeometry, type Int3 } from './conv3d-geometry.js';
import { InternalError } from '../tensor/errors.js';
import { itemSize } from '../tensor/dtype.js';
import { adapterClass } from './tune-defaults.js';

/**
 * The fast conv3d kernels. Every pass is a direct convolution over a zero-padded copy of
 * its input, so the inner loops carry no bounds tests:
 *
 * - forward:  y  = Σ x̂ · w        (x̂: x padded, rows widened to a multiple of 4)
 * - dgrad:    dx = Σ ĝ · w̃        per stride phase (s³ of them), w̃ a flipped sub-kernel;
 *                                 for stride 1 it is one ordinary convolution
 * - wgrad:    dw = Σ_voxels ĝ ⊗ x̂ as partial sums over chunks of voxel rows, then `sum`
 *
 * The tile sizes differ per adapter (see `tilesFor`), but the code is the same template.
 *
 * Why this shape on lavapipe (Mesa 25.0, LLVM 15; one invocation per SIMD lane of 8):
 * every storage load becomes a branchy per-lane sequence with a bounds check per
 * component, even when the address is uniform across the workgroup (this Mesa does not
 * scalarize uniform loads), so one vec4 load costs ~250 instructions for 8 lanes where an
 * 8-lane FMA costs 2. The kernels therefore load vec4s and keep as many accumulators per
 * invocation as LLVM copes with, so that each loaded value feeds many FMAs. Workgroup
 * memory measured only ~25% cheaper per load than storage, so staging through it (with
 * its barriers) is not worth it; vec4 loads cost about half as much per value as scalar ones.
 */

export interface ConvTiles {
  /** Forward/dgrad: output voxels along W per invocation (a multiple of 4). */
  tw: number;
  /** Forward/dgrad: groups of 4 output channels per invocation. */
  tc4: number;
  /** Weight gradient: groups of 4 output channels per invocation. */
  wtc4: number;
  /** Workgroup size of both. */
  wg: number;
  /** Weight gradient: invocations to aim for when splitting the voxel reduction. */
  lanes: number;
  /**
   * 0, or the subgroup lanes (4 or 8) that share loads every lane of them needs, each
   * loading one slot and handing it round with `subgroupBroadcast`: in forward/dgrad one
   * row's weight vec4s (the same for a whole workgroup), in wgrad a step's dy vec4s (the
   * same for one chunk of rows). A CPU adapter gathers even a uniform address lane by lane,
   * so one load then does the work of up to `sg`. Needs the 'subgroups' feature and
   * subgroups of at least `sg` lanes.
   */
  sg?: 0 | 4 | 8;
}

/**
 * CPU adapters (llvmpipe, SwiftShader) pay per load, not per register: 64 accumulators per
 * invocation win there. Of the tilings measured on lavapipe (4×4, 8×4, 8×8, 12×4, 16×4,
 * 16×8, 32×4 voxels × channels), 16 voxels × 4 channels ran fastest at 64³ (about 1.3×
 * 8×8; 4×4 ran at ~0.6× of 8×8); most of the time goes into the per-lane gathers of the
 * weight vec4s, which a wider voxel tile amortises. A GPU pays for registers in
 * occupancy, so it gets the classic 4 voxels × 4 channels (not measured on a GPU here).
 */
export const CPU_TILES: ConvTiles = { tw: 16, tc4: 1, wtc4: 2, wg: 64, lanes: 4096 };

/**
 * The CPU tiling where weights and dy are shared within subgroups of 8 (the CPU class's
 * first default; docs/PERFORMANCE.md has the measurements). Once a weight vec4 costs one
 * load per subgroup, 8 channels per invocation beat 4 (the x loads are amortised twice as
 * far), and workgroups of 16 (two subgroups) beat 64: lavapipe runs a workgroup on one
 * thread, and smaller ones spread more evenly over the cores.
 */
export const CPU_SG_TILES: ConvTiles = { tw: 16, tc4: 2, wtc4: 2, wg: 16, lanes: 4096, sg: 8 };
export const GPU_TILES: ConvTiles = { tw: 4, tc4: 1, wtc4: 1, wg: 64, lanes: 65536 };

export function isCpuAdapter(device: Device): boolean {
  return adapterClass(device) === 'cpu';
}

export function tilesFor(device: Device): ConvTiles {
  return isCpuAdapter(device) ? CPU_TILES : GPU_TILES;
}

const R = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const up = (v: number, m: number): number => Math.ceil(v / m) * m;

// ---- zero-padded copies ----------------------------------------------------------------

/**
 * dst[b, c, t] = src[b, c, t - left] inside src, 0 elsewhere (c ≥ C included), for a
 * dst of [N, Cp, Dp, Hp, Wp] with Wp % 4 == 0; one vec4 of a dst row per invocation.
 * Offsets may be negative (a crop), which the dgrad phases need. This one reads src by
 * element, for rows whose length is not a multiple of 4.
 */
const padKernel: KernelDef = {
  name: 'conv3d_pad',
  inputs: ['src'],
  outputs: [{ name: 'dst', type: 'vec4<f32>' }],
  uniforms: ['c', 'd', 'h', 'w', 'cp', 'dp', 'hp', 'wp4', 'ld', 'lh', 'lw', 'total'].map((name) => ({ name, type: 'i32' as const })),
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.total) { return; }
  let tw = (i % u.wp4) * 4 - u.lw;
  let th = (i / u.wp4) % u.hp - u.lh;
  let td = (i / (u.wp4 * u.hp)) % u.dp - u.ld;
  let c = (i / (u.wp4 * u.hp * u.dp)) % u.cp;
  let b = i / (u.wp4 * u.hp * u.dp * u.cp);
  let inside = c < u.c && td >= 0 && td < u.d && th >= 0 && th < u.h;
  let row = select(0, (((b * u.c + c) * u.d + td) * u.h + th) * u.w, inside);
  var v = vec4<f32>(0.0);
  for (var e = 0; e < 4; e++) {
    let x = tw + e;
    if (inside && x >= 0 && x < u.w) { v[e] = src[row + x]; }
  }
  dst[i] = v;`,
  halfStorage: true,
};

/**
 * The same copy for rows whose length is a multiple of 4 (nearly every conv input): one
 * invocation per dst row reads src as vec4s and splices each dst vec4 from two neighbours
 * at the one lane shift that `left` sets, so every src vec4 is loaded once and every dst
 * vec4 stored once. A software adapter pays per load and per invocation, not per value
 * (conv3d-tiled.ts's header): on lavapipe this ran 5-6.6x the element kernel. A src vec4
 * lies wholly inside or outside its row, so a whole vec4 is masked at a time.
 */
const padRowsKernel: KernelDef = {
  name: 'conv3d_pad_rows',
  inputs: [{ name: 'src', type: 'vec4<f32>' }],
  outputs: [{ name: 'dst', type: 'vec4<f32>' }],
  uniforms: ['c', 'd', 'h', 'w4', 'cp', 'dp', 'hp', 'wp4', 'ld', 'lh', 'lw', 'total'].map((name) => ({ name, type: 'i32' as const })),
  workgroupSize: 64,
  helpers: `fn splice(p: vec4<f32>, q: vec4<f32>, o: i32) -> vec4<f32> {
  switch o {
    case 1: { return vec4<f32>(p.yzw, q.x); }
    case 2: { return vec4<f32>(p.zw, q.xy); }
    case 3: { return vec4<f32>(p.w, q.xyz); }
    default: { return p; }
  }
}`,
  body: `  let i = i32(idx);
  if (i >= u.total) { return; }
  let th = i % u.hp - u.lh;
  let td = (i / u.hp) % u.dp - u.ld;
  let c = (i / (u.hp * u.dp)) % u.cp;
  let b = i / (u.hp * u.dp * u.cp);
  let inside = c < u.c && td >= 0 && td < u.d && th >= 0 && th < u.h;
  let row = select(0, (((b * u.c + c) * u.d + td) * u.h + th) * u.w4, inside);
  // dst lane 0 is src element -lw: src vec4 a0, lane o (floor division, as lw may be negative).
  let o = (((-u.lw) % 4) + 4) % 4;
  let a0 = (-u.lw - o) / 4;
  var p = vec4<f32>(0.0);
  if (inside && a0 >= 0 && a0 < u.w4) { p = src[row + a0]; }
  let db = i * u.wp4;
  for (var j = 0; j < u.wp4; j++) {
    let a = a0 + j + 1;
    var q = vec4<f32>(0.0);
    if (inside && a >= 0 && a < u.w4) { q = src[row + a]; }
    dst[db + j] = splice(p, q, o);
    p = q;
  }`,
  halfStorage: true,
};

export interface Padded {
  /** The tensor to bind (a padded copy, or the source itself when it already fits). */
  t: Tensor;
  /** True when `t` was made here and must be disposed by the caller. */
  owned: boolean;
  c: number;
  dims: Int3;
}

/**
 * A zero-padded copy of `src` [N, C, D, H, W] shaped [N, cp, dims], with src's voxel
 * (0, 0, 0) at `left`. Returns src itself when the copy would be the identity.
 */
export function padded(src: Tensor, cp: number, dims: Int3, left: Int3): Padded {
  const [n, c, d, h, w] = src.shape as [number, number, number, number, number];
  if (dims[2] % 4 !== 0) throw new InternalError(`conv3d internal: padded row ${dims[2]} is not a multiple of 4`);
  if (cp === c && dims[0] === d && dims[1] === h && dims[2] === w && left.every((l) => l === 0)) {
    return { t: src, owned: false, c, dims };
  }
  const t = empty([n, cp, ...dims], src.device, 'conv3d_pad', src.dtype);
  // Rows of 4-aligned length are copied a row per invocation, others a dst vec4 per invocation.
  const rows = w % 4 === 0;
  const total = rows ? n * cp * dims[0] * dims[1] : t.size / 4;
  const shape = { c, d, h, cp, dp: dims[0], hp: dims[1], wp4: dims[2] / 4, ld: left[0], lh: left[1], lw: left[2], total };
  src.device.dispatch(rows ? padRowsKernel : padKernel, {
    inputs: [arg(src)],
    outputs: [arg(t)],
    uniforms: rows ? { ...shape, w4: w / 4 } : { ...shape, w },
    invocations: total,
    label: `[${src.shape.join(', ')}] -> [${t.shape.join(', ')}]`,
  });
  return { t, owned: true, c: cp, dims };
}

// ---- weight layouts ----------------------------------------------------------------------

/**
 * Lays weights out as [cin, md, mh, mw, coutP] (coutP a multiple of 4, zero-filled), the
 * order the conv kernel reads them in. Tap m of axis i is source tap r_i + s_i·m, or
 * r_i + s_i·(M_i − 1 − m) when flipped; (cin, cout) index the source's (Co, Ci) or
 * (Ci, Co) by the two strides, which is how dgrad transposes the channels. One invocation
 * per (cin, tap) row of coutP: the index math is paid once per row, not per element
 * (on a CPU adapter it costs more than the copy; see padRowsKernel).
 */
const weightKernel: KernelDef = {
  name: 'conv3d_weights',
  inputs: ['w'],
  outputs: [{ name: 'wt', type: 'vec4<f32>' }],
  uniforms: ['cin', 'cout', 'coutp4', 'md', 'mh', 'mw', 'rd', 'rh', 'rw', 'sd', 'sh', 'sw', 'flip', 'kh', 'kw', 'sin', 'sout', 'rows'].map(
    (name) => ({ name, type: 'i32' as const }),
  ),
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.rows) { return; }
  let mx = i % u.mw;
  let my = (i / u.mw) % u.mh;
  let mz = (i / (u.mw * u.mh)) % u.md;
  let ci = i / (u.mw * u.mh * u.md);
  let fz = select(mz, u.md - 1 - mz, u.flip != 0);
  let fy = select(my, u.mh - 1 - my, u.flip != 0);
  let fx = select(mx, u.mw - 1 - mx, u.flip != 0);
  let tap = ((u.rd + u.sd * fz) * u.kh + u.rh + u.sh * fy) * u.kw + u.rw + u.sw * fx;
  let sb = ci * u.sin + tap;
  let db = i * u.coutp4;
  for (var q = 0; q < u.coutp4; q++) {
    var v = vec4<f32>(0.0);
    for (var e = 0; e < 4; e++) {
      let co = q * 4 + e;
      if (co < u.cout) { v[e] = w[sb + co * u.sout]; }
    }
    wt[db + q] = v;
  }`,
  halfStorage: true,
};

interface SubKernel {
  /** Taps per axis. */
  m: Int3;
  /** First source tap per axis. */
  r: Int3;
  /** Source tap step per axis. */
  s: Int3;
  flip: boolean;
  /** Whether (cin, cout) = (Ci, Co) (forward) or (Co, Ci) (dgrad). */
  transpose: boolean;
}

function layoutWeights(weight: Tensor, sub: SubKernel, coutP: number): Tensor {
  const [co, ci, kd, kh, kw] = weight.shape as [number, number, number, number, number];
  const taps = kd * kh * kw;
  const [cin, cout] = sub.transpose ? [co, ci] : [ci, co];
  const wt = empty([cin, sub.m[0], sub.m[1], sub.m[2], coutP], weight.device, 'conv3d_weights');
  weight.device.dispatch(weightKernel, {
    inputs: [arg(weight)],
    outputs: [arg(wt)],
    uniforms: {
      cin,
      cout,
      coutp4: coutP / 4,
      md: sub.m[0],
      mh: sub.m[1],
      mw: sub.m[2],
      rd: sub.r[0],
      rh: sub.r[1],
      rw: sub.r[2],
      sd: sub.s[0],
      sh: sub.s[1],
      sw: sub.s[2],
      flip: sub.flip ? 1 : 0,
      kh,
      kw,
      sin: sub.transpose ? ci * taps : taps,
      sout: sub.transpose ? taps : ci * taps,
      rows: wt.size / coutP,
    },
    invocations: wt.size / coutP,
    label: `[${weight.shape.join(', ')}] -> [${wt.shape.join(', ')}]`,
  });
  return wt;
}

/** The bias zero-extended to `coutP` entries (zeros without a bias). */
const biasKernel: KernelDef = {
  name: 'conv3d_bias',
  inputs: ['b'],
  outputs: ['bp'],
  uniforms: [
    { name: 'n', type: 'i32' },
    { name: 'total', type: 'i32' },
  ],
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.total) { return; }
  bp[i] = select(0.0, b[min(i, u.n - 1)], i < u.n);`,
  halfStorage: true,
};

function paddedBias(bias: Tensor | null, coutP: number, device: Device): Tensor {
  if (!bias) return zeros([coutP], { device });
  const bp = empty([coutP], device, 'conv3d_bias');
  device.dispatch(biasKernel, { inputs: [arg(bias)], outputs: [arg(bp)], uniforms: { n: bias.size, total: coutP }, invocations: coutP, label: `[${bias.size}]` });
  return bp;
}

// ---- the convolution template --------------------------------------------------------------

interface ConvKernelKey {
  tw: number;
  tc4: number;
  wg: number;
  sg: number;
  /** Taps and stride along W: compile-time, because they decide which vec4 lanes each tap reads. */
  kw: number;
  sw: number;
}

const convUniforms = [
  'cin', 'kd', 'kh', 'sd', 'sh', 'dp', 'hp', 'wp4', 'ofd', 'ofh',
  'nd', 'nh', 'nw', 'runs', 'total', 'cop4', 'cout', 'yn', 'yc', 'yd', 'yh', 'yw', 'yoff',
].map((name) => ({ name, type: 'i32' as const }));

const convKernels = new Map<string, KernelDef>();

/**
 * One invocation: `tw` consecutive outputs along W × 4·`tc4` output channels, as vec4
 * accumulators over channels. Input rows arrive as vec4s (the padded row starts
 * 4-aligned at every tile), weights as vec4s of 4 channels. The channel group comes from
 * workgroup_id.y, so on a GPU all invocations of a workgroup read the same weights.
 * Output addressing is strided (yd, yh, yw, yoff) so dgrad phases write interleaved.
 */
function convKernel(k: ConvKernelKey): KernelDef {
  const key = JSON.stringify(k);
  let def = convKernels.get(key);
  if (def) return def;
  const { tw, tc4, wg, sg, kw, sw } = k;
  const nvec = Math.ceil(((tw - 1) * sw + kw) / 4);
  const acc = (j: number, c: number): string => `a${j}_${c}`;
  // With sg lanes sharing the loads, slot x·tc4 + c of the row's kw·tc4 weight vec4s is
  // loaded by lane slot % sg in load slot / sg, then broadcast from there.
  const slots = kw * tc4;
  const sgLoads = sg ? Math.ceil(slots / sg) : 0;
  const shared = R(sgLoads, (p) => `        let ws${p} = wt[wb + sx${p} * u.cop4 + sc${p}];`);
  const wload = (x: number, c: number): string => {
    if (!sg) return `wt[wb + ${x} * u.cop4 + ${c}]`;
    const slot = x * tc4 + c;
    return `subgroupBroadcast(ws${Math.floor(slot / sg)}, ${slot % sg}u)`;
  };
  const taps = R(kw, (x) =>
    [
      R(tc4, (c) => `        let w${x}_${c} = ${wload(x, c)};`),
      R(tw, (j) => {
        const q = j * sw + x;
        return R(tc4, (c) => `        ${acc(j, c)} = fma(vec4<f32>(x${q >> 2}[${q & 3}]), w${x}_${c}, ${acc(j, c)});`);
      }),
    ].join('\n'),
  );
  // A loop over the 4 channels of each accumulator keeps the (per-lane, scattered) stores
  // out of the unrolled code: it is only compile time they would cost.
  const stores = R(tc4, (c) => `  for (var e = 0; e < 4; e++) {
    let co = (cg + ${c}) * 4 + e;
    if (co >= u.cout) { break; }
    let yb = ybase + co * u.yc;
    let bv = bias[co];
${R(tw, (j) => `    if (live && q0 + ${j} < u.nw) { ys[yb + (q0 + ${j}) * u.yw] = ${acc(j, c)}[e] + bv; }`)}
  }`);
  def = {
    name: `conv3d_tiled_${tw}x${tc4 * 4}${wg === 64 ? '' : `_wg${wg}`}${sg ? `_sg${sg}` : ''}_k${kw}s${sw}`,
    inputs: [{ name: 'xs', type: 'vec4<f32>' }, { name: 'wt', type: 'vec4<f32>' }, 'bias'],
    outputs: ['ys'],
    uniforms: convUniforms,
    workgroupSize: wg,
    halfStorage: true,
    ...(sg ? { enable: ['subgroups'] as const } : {}),
    // A subgroup variant keeps every lane to the end (broadcasts need the whole subgroup):
    // lanes past the last tile recompute it and store nothing.
    body: `  let r0 = i32((wid.z * nwg.x + wid.x) * ${wg}u + lid.x);
${sg ? `  let live = r0 < u.total;
  let r = min(r0, u.total - 1);
${R(sgLoads, (p) => `  let sl${p} = min(${p * sg}u + sgid % ${sg}u, ${slots - 1}u);
  let sx${p} = i32(sl${p} / ${tc4}u);
  let sc${p} = i32(sl${p} % ${tc4}u);`)}` : `  if (r0 >= u.total) { return; }
  let live = true;
  let r = r0;`}
  let rw = r % u.runs;
  let qh = (r / u.runs) % u.nh;
  let qd = (r / (u.runs * u.nh)) % u.nd;
  let b = r / (u.runs * u.nh * u.nd);
  let cg = i32(wid.y) * ${tc4};
  let q0 = rw * ${tw};
  let xw = q0 * ${sw} / 4;
${R(tw, (j) => R(tc4, (c) => `  var ${acc(j, c)} = vec4<f32>(0.0);`))}
  for (var ic = 0; ic < u.cin; ic++) {
    let xc = (b * u.cin + ic) * u.dp + qd * u.sd + u.ofd;
    for (var kz = 0; kz < u.kd; kz++) {
      for (var ky = 0; ky < u.kh; ky++) {
        let xb = ((xc + kz) * u.hp + qh * u.sh + ky + u.ofh) * u.wp4 + xw;
${R(nvec, (v) => `        let x${v} = xs[xb + ${v}];`)}
        let wb = ((ic * u.kd + kz) * u.kh + ky) * ${kw} * u.cop4 + cg;
${shared}
${taps}
      }
    }
  }
  let ybase = b * u.yn + qd * u.yd + qh * u.yh + u.yoff;
${stores}`,
  };
  convKernels.set(key, def);
  return def;
}

/** Where a tiled convolution writes: a logical grid placed in y with strides (dgrad phases interleave). */
interface OutputPlacement {
  grid: Int3;
  /** Element strides of batch, channel, d, h, w and the offset of grid voxel (0, 0, 0). */
  yn: number;
  yc: number;
  yd: number;
  yh: number;
  yw: number;
  yoff: number;
}

interface ConvPass {
  input: Padded;
  /** Reads start at padded voxel (grid·stride + origin + tap); W's origin is always 0. */
  origin: [number, number];
  stride: Int3;
  taps: Int3;
  weights: Tensor;
  bias: Tensor;
  cout: number;
  coutP: number;
  out: OutputPlacement;
  y: Tensor;
  label: string;
}

function runConv(p: ConvPass, tiles: ConvTiles): void {
  const device = p.y.device;
  const [nd, nh, nw] = p.out.grid;
  const n = p.input.t.shape[0]!;
  if (nd === 0 || nh === 0 || nw === 0 || n === 0 || p.cout === 0) return;
  const runs = Math.ceil(nw / tiles.tw);
  const total = n * nd * nh * runs;
  const groups = Math.ceil(total / tiles.wg);
  const maxDim = device.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(groups, maxDim);
  const def = convKernel({ tw: tiles.tw, tc4: tiles.tc4, wg: tiles.wg, sg: tiles.sg ?? 0, kw: p.taps[2], sw: p.stride[2] });
  device.dispatch(def, {
    inputs: [arg(p.input.t), arg(p.weights), arg(p.bias)],
    outputs: [arg(p.y)],
    uniforms: {
      cin: p.input.c,
      kd: p.taps[0],
      kh: p.taps[1],
      sd: p.stride[0],
      sh: p.stride[1],
      dp: p.input.dims[0],
      hp: p.input.dims[1],
      wp4: p.input.dims[2] / 4,
      ofd: p.origin[0],
      ofh: p.origin[1],
      nd,
      nh,
      nw,
      runs,
      total,
      cop4: p.coutP / 4,
      cout: p.cout,
      yn: p.out.yn,
      yc: p.out.yc,
      yd: p.out.yd,
      yh: p.out.yh,
      yw: p.out.yw,
      yoff: p.out.yoff,
    },
    workgroups: [gx, p.coutP / (4 * tiles.tc4), Math.ceil(groups / gx)],
    label: p.label,
  });
}

/** Padded row length that covers every vec4 a tile reads for `w` outputs at stride `s` with `k` taps. */
function rowLength(w: number, s: number, k: number, tw: number): number {
  const runs = Math.ceil(w / tw);
  const nvec = Math.ceil(((tw - 1) * s + k) / 4);
  return up((runs - 1) * tw * s + nvec * 4, 4);
}

// ---- forward ----------------------------------------------------------------------------------

interface ForwardPlan {
  coutP: number;
  dims: Int3;
  /** x itself serves as the padded input. */
  direct: boolean;
}

/**
 * `x`: the input when known (tiledFits plans without it). With no padding and 4-aligned rows x
 * itself serves: tiles that run past a row's end read the next row only for masked outputs, and
 * past the last row, up to `rowLength − W` floats beyond x. Dawn's robustness turns those into
 * zeros; on a device without it (DeviceOptions.trustedKernels) x serves only where its buffer
 * holds that many bytes past the tensor, so that no read leaves the buffer.
 */
function forwardPlan(g: ConvGeometry, tiles: ConvTiles, device: Device, x?: Tensor): ForwardPlan {
  const rowW = rowLength(g.out[2], g.stride[2], g.k[2], tiles.tw);
  const overread = itemSize(g.dtype) * Math.max(0, rowW - g.in[2]);
  const contained = device.robustBufferAccess || (x !== undefined && x.buffer.size - x.byteOffset - x.byteSize >= overread);
  return {
    coutP: up(g.co, 4 * tiles.tc4),
    dims: [(g.out[0] - 1) * g.stride[0] + g.k[0], (g.out[1] - 1) * g.stride[1] + g.k[1], rowW],
    direct: g.pad.every((p) => p === 0) && g.in[2] % 4 === 0 && contained,
  };
}

export function tiledForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, tiles: ConvTiles): Tensor {
  const device = x.device;
  const y = empty([g.n, g.co, ...g.out], device, 'conv3d', g.dtype);
  const { coutP, dims, direct } = forwardPlan(g, tiles, device, x);
  const input = direct ? { t: x, owned: false, c: g.ci, dims: g.in } : padded(x, g.ci, dims, g.pad);
  const wt = layoutWeights(weight, { m: g.k, r: [0, 0, 0], s: [1, 1, 1], flip: false, transpose: false }, coutP);
  const bp = paddedBias(bias, coutP, device);
  const [od, oh, ow] = g.out;
  runConv(
    {
      input,
      origin: [0, 0],
      stride: g.stride,
      taps: g.k,
      weights: wt,
      bias: bp,
      cout: g.co,
      coutP,
      out: { grid: g.out, yn: g.co * od * oh * ow, yc: od * oh * ow, yd: oh * ow, yh: ow, yw: 1, yoff: 0 },
      y,
      label: describe(g),
    },
    tiles,
  );
  if (input.owned) input.t.dispose();
  wt.dispose();
  bp.dispose();
  return y;
}

// ---- input gradient ------------------------------------------------------------------------

interface Phase {
  /** Input positions a + s·q, q < count. */
  a: number;
  count: number;
  /** Kernel taps r, r + s, ... (m of them) reach these positions. */
  r: number;
  m: number;
  /** Left padding of dy for this phase's stride-1 correlation (may be negative). */
  lead: number;
}

/**
 * Splits one axis of the transposed convolution by input position modulo the stride:
 * dx[a + s·q] = Σ_j dy[q − lead + j] · w[r + s·(m − 1 − j)], j < m, with
 * r = (a + p) mod s, m = #{taps ≡ r}, lead = m − 1 − (a + p − r)/s.
 */
function phases(size: number, k: number, s: number, p: number): Phase[] {
  const out: Phase[] = [];
  for (let a = 0; a < s; a++) {
    const r = (a + p) % s;
    const m = r < k ? Math.ceil((k - r) / s) : 0;
    const count = a < size ? Math.ceil((size - a) / s) : 0;
    out.push({ a, count, r, m, lead: m - 1 - (a + p - r) / s });
  }
  return out;
}

interface InputGradPlan {
  /** Phases per axis that write something, and whether some input positions get no tap at all. */
  live: [Phase[], Phase[], Phase[]];
  unreached: boolean;
  leadD: number;
  leadH: number;
  /** Padded dy extent along D and H, shared by all phases; each W phase has its own row length. */
  dims0: number;
  dims1: number;
  rows: number[];
  coutP: number;
}

function inputGradPlan(g: ConvGeometry, tiles: ConvTiles): InputGradPlan {
  const all = [0, 1, 2].map((i) => phases(g.in[i]!, g.k[i]!, g.stride[i]!, g.pad[i]!));
  const live = all.map((axis) => axis.filter((f) => f.count > 0 && f.m > 0)) as [Phase[], Phase[], Phase[]];
  // D and H phases share one padded dy and read it at different origins; W phases need
  // their own copy so that every tile's row still starts 4-aligned.
  const lead = (axis: Phase[]): number => Math.max(0, ...axis.map((f) => f.lead));
  const extent = (axis: Phase[], l: number): number => Math.max(0, ...axis.map((f) => l - f.lead + f.count + f.m - 1));
  const leadD = lead(live[0]);
  const leadH = lead(live[1]);
  return {
    live,
    unreached: all.some((axis) => axis.some((f) => f.count > 0 && f.m === 0)),
    leadD,
    leadH,
    dims0: extent(live[0], leadD),
    dims1: extent(live[1], leadH),
    rows: live[2].map((f) => rowLength(f.count, 1, f.m, tiles.tw)),
    coutP: up(g.ci, 4 * tiles.tc4),
  };
}

export function tiledInputGrad(gy: Tensor, weight: Tensor, g: ConvGeometry, tiles: ConvTiles): Tensor {
  const device = gy.device;
  const [d, h, w] = g.in;
  const gx = empty([g.n, g.ci, d, h, w], device, 'conv3d_dgrad');
  const plan = inputGradPlan(g, tiles);
  // Positions that no tap reaches (kernel smaller than the stride) get no write: zero them first.
  if (plan.unreached) device.clear(gx.buffer, 0, Math.ceil(Math.max(4, gx.byteSize) / 4) * 4);
  const [ld, lh, lw] = plan.live;
  if (ld.length === 0 || lh.length === 0 || lw.length === 0 || g.ci === 0) return gx;
  const { leadD, leadH, dims0, dims1, coutP } = plan;
  const noBias = zeros([coutP], { device });
  const wts = new Map<string, Tensor>();
  for (const [iw, fw] of lw.entries()) {
    const input = padded(gy, g.co, [dims0, dims1, plan.rows[iw]!], [leadD, leadH, fw.lead]);
    for (const fd of ld) {
      for (const fh of lh) {
        const m: Int3 = [fd.m, fh.m, fw.m];
        const r: Int3 = [fd.r, fh.r, fw.r];
        const key = `${r}`;
        let wt = wts.get(key);
        if (!wt) {
          wt = layoutWeights(weight, { m, r, s: g.stride, flip: true, transpose: true }, coutP);
          wts.set(key, wt);
        }
        runConv(
          {
            input,
            origin: [leadD - fd.lead, leadH - fh.lead],
            stride: [1, 1, 1],
            taps: m,
            weights: wt,
            bias: noBias,
            cout: g.ci,
            coutP,
            out: {
              grid: [fd.count, fh.count, fw.count],
              yn: g.ci * d * h * w,
              yc: d * h * w,
              yd: g.stride[0] * h * w,
              yh: g.stride[1] * w,
              yw: g.stride[2],
              yoff: (fd.a * h + fh.a) * w + fw.a,
            },
            y: gx,
            label: `dgrad ${describe(g)} phase ${fd.a},${fh.a},${fw.a}`,
          },
          tiles,
        );
      }
    }
    if (input.owned) input.t.dispose();
  }
  for (const wt of wts.values()) wt.dispose();
  noBias.dispose();
  return gx;
}

/**
 * Whether every buffer a tiled pass makes fits the device's binding and buffer limits
 * (padded copies are a little larger than their source); conv3d falls back to the direct
 * kernels for a pass that does not.
 */
export function tiledFits(g: ConvGeometry, tiles: ConvTiles, device: Device): { forward: boolean; inputGrad: boolean; weightGrad: boolean } {
  // Empty tensors would make vec4 bindings smaller than one vec4; the direct kernels handle them.
  if (g.n === 0 || g.ci === 0 || g.co === 0) return { forward: false, inputGrad: false, weightGrad: false };
  const sg = tiles.sg ?? 0;
  if (sg && !(device.features.has('subgroups') && device.subgroupMinSize >= sg)) return { forward: false, inputGrad: false, weightGrad: false };
  const limit = Math.floor(Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize) / 4);
  const ok = (...sizes: number[]): boolean => sizes.every((s) => s <= limit);
  const f = forwardPlan(g, tiles, device);
  const taps = g.k[0] * g.k[1] * g.k[2];
  const d = inputGradPlan(g, tiles);
  const w = weightGradPlan(g, tiles);
  return {
    forward: ok(f.direct ? 0 : g.n * g.ci * f.dims[0] * f.dims[1] * f.dims[2], g.ci * taps * f.coutP),
    inputGrad: ok(...d.rows.map((r) => g.n * g.co * d.dims0 * d.dims1 * r), g.co * taps * d.coutP),
    weightGrad: ok(g.n * g.ci * w.dims[0] * w.dims[1] * w.dims[2], g.n * w.coutP * g.out[0] * g.out[1] * w.ow4 * 4, w.chunks * g.co * g.ci * taps),
  };
}

/**
 * Every kernel the tiled passes run for geometry `g` (small helpers included), so that a
 * model can compile them ahead of its first step with `device.warmup` — on lavapipe the
 * big tiles take seconds each to compile.
 */
export function tiledKernels(g: ConvGeometry, tiles: ConvTiles, passes: readonly ConvPassName[] = ['forward', 'inputGrad', 'weightGrad']): KernelDef[] {
  const defs = [padKernel, padRowsKernel, weightKernel, biasKernel];
  if (passes.includes('forward')) defs.push(convKernel({ tw: tiles.tw, tc4: tiles.tc4, wg: tiles.wg, sg: tiles.sg ?? 0, kw: g.k[2], sw: g.stride[2] }));
  if (passes.includes('inputGrad')) {
    for (const f of inputGradPlan(g, tiles).live[2]) defs.push(convKernel({ tw: tiles.tw, tc4: tiles.tc4, wg: tiles.wg, sg: tiles.sg ?? 0, kw: f.m, sw: 1 }));
  }
  if (passes.includes('weightGrad')) defs.push(wgradKernel({ tc4: tiles.wtc4, wg: tiles.wg, sg: tiles.sg ?? 0, kh: g.k[1], kw: g.k[2], sw: g.stride[2] }));
  return [...new Set(defs)];
}

export type ConvPassName = 'forward' | 'inputGrad' | 'weightGrad';

// ---- weight gradient -------------------------------------------------------------------------

interface WgradKey {
  tc4: number;
  wg: number;
  sg: number;
  kh: number;
  kw: number;
  sw: number;
}

const wgradKernels = new Map<string, KernelDef>();

/**
 * Partial weight gradients: one invocation owns (chunk of voxel rows, ci, kd) and 4·tc4
 * output channels, with accumulators for every (kh, kw) tap. It walks its rows 4 output
 * voxels at a time: per step one vec4 of dy per channel, and per kh the vec4s of the
 * input row those 4 voxels' taps touch. Partials go to [chunk, Co, Ci, kd, kh, kw].
 *
 * All (ci, kd) lanes of one chunk read the same dy vec4s. The subgroup variant (sg > 0)
 * therefore gives each workgroup one chunk (`blocks` workgroups of it cover the
 * (ci, kd) pairs; lanes past them recompute the last pair and store nothing), so that
 * whatever lanes the adapter groups into a subgroup, they share the chunk: each loads one
 * slot of the step's dy vec4s and broadcasts it.
 */
function wgradKernel(k: WgradKey): KernelDef {
  const key = JSON.stringify(k);
  let def = wgradKernels.get(key);
  if (def) return def;
  const { tc4, wg, sg, kh, kw, sw } = k;
  const nvec = Math.ceil((3 * sw + kw) / 4);
  const slots = tc4 * 4;
  const sgLoads = sg ? Math.ceil(slots / sg) : 0;
  const gload = (c: number): string => (sg ? `subgroupBroadcast(gs${Math.floor(c / sg)}, ${c % sg}u)` : `gy[gr + ${c} * cs + s4]`);
  const acc = (y: number, x: number, c: number): string => `a${y}_${x}_${c}`;
  const fmas: string[] = [];
  for (let q = 0; q < 4; q++) {
    for (let c = 0; c < tc4; c++) fmas.push(`      let g${c}_${q} = vec4<f32>(${R(4, (e) => `g${c * 4 + e}[${q}]`).split('\n').join(', ')});`);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        const p = q * sw + x;
        for (let c = 0; c < tc4; c++) fmas.push(`      ${acc(y, x, c)} = fma(g${c}_${q}, vec4<f32>(x${y}_${p >> 2}[${p & 3}]), ${acc(y, x, c)});`);
      }
    }
  }
  const stores = R(tc4, (c) => `  for (var e = 0; e < 4; e++) {
    let co = co0 + ${c * 4} + e;
    if (co >= u.cout) { break; }
    let pb = ((chunk * u.cout + co) * u.cin + ic) * u.kd * ${kh * kw} + kz * ${kh * kw};
${R(kh, (y) => R(kw, (x) => `    if (live) { part[pb + ${y * kw + x}] = ${acc(y, x, c)}[e]; }`))}
  }`);
  def = {
    name: `conv3d_wgrad_${tc4 * 4}${wg === 64 ? '' : `_wg${wg}`}${sg ? `_sg${sg}` : ''}_k${kh}x${kw}s${sw}`,
    inputs: [{ name: 'xs', type: 'vec4<f32>' }, { name: 'gy', type: 'vec4<f32>' }],
    outputs: ['part'],
    uniforms: ['cin', 'kd', 'sd', 'sh', 'dp', 'hp', 'wp4', 'nd', 'nh', 'nw4', 'coutp', 'rows', 'rpc', 'lanes', 'cout', 'chunks', 'blocks'].map((name) => ({ name, type: 'i32' as const })),
    workgroupSize: wg,
    ...(sg ? { enable: ['subgroups'] as const } : {}),
    body: `${sg ? `  let wgi = i32(wid.z * nwg.x + wid.x);
  let chunk = wgi / u.blocks;
  if (chunk >= u.chunks) { return; }
  let p0 = (wgi % u.blocks) * ${wg} + i32(lid.x);
  let live = p0 < u.cin * u.kd;
  let p = min(p0, u.cin * u.kd - 1);
  let kz = p % u.kd;
  let ic = p / u.kd;
${R(sgLoads, (q) => `  let sl${q} = i32(min(${q * sg}u + sgid % ${sg}u, ${slots - 1}u));`)}` : `  let l = i32((wid.z * nwg.x + wid.x) * ${wg}u + lid.x);
  if (l >= u.lanes) { return; }
  let live = true;
  let kz = l % u.kd;
  let ic = (l / u.kd) % u.cin;
  let chunk = l / (u.kd * u.cin);`}
  let co0 = i32(wid.y) * ${tc4 * 4};
  let cs = u.nd * u.nh * u.nw4;
${R(kh, (y) => R(kw, (x) => R(tc4, (c) => `  var ${acc(y, x, c)} = vec4<f32>(0.0);`)))}
  let end = min(u.rows, (chunk + 1) * u.rpc);
  for (var row = chunk * u.rpc; row < end; row++) {
    let qh = row % u.nh;
    let qd = (row / u.nh) % u.nd;
    let b = row / (u.nh * u.nd);
    let xr = (((b * u.cin + ic) * u.dp + qd * u.sd + kz) * u.hp + qh * u.sh) * u.wp4;
    let gr = (((b * u.coutp + co0) * u.nd + qd) * u.nh + qh) * u.nw4;
    for (var s4 = 0; s4 < u.nw4; s4++) {
${R(sgLoads, (q) => `      let gs${q} = gy[gr + sl${q} * cs + s4];`)}
${R(slots, (c) => `      let g${c} = ${gload(c)};`)}
${R(kh, (y) => R(nvec, (v) => `      let x${y}_${v} = xs[xr + ${y} * u.wp4 + s4 * ${sw} + ${v}];`))}
${fmas.join('\n')}
    }
  }
${stores}`,
  };
  wgradKernels.set(key, def);
  return def;
}

interface WeightGradPlan {
  /** Padded x extent: every tap of the 4-voxel steps, including the zero columns of ĝ. */
  dims: Int3;
  ow4: number;
  coutP: number;
  rows: number;
  chunks: number;
  rpc: number;
}

function weightGradPlan(g: ConvGeometry, tiles: ConvTiles): WeightGradPlan {
  const [kd, kh, kw] = g.k;
  const [od, oh, ow] = g.out;
  const ow4 = Math.ceil(ow / 4);
  const coutP = up(g.co, 4 * tiles.wtc4);
  const rows = g.n * od * oh;
  const base = g.ci * kd * (coutP / (4 * tiles.wtc4));
  // Enough invocations to fill the device, but partial sums stay under 16 M floats.
  let chunks = Math.min(rows, Math.max(1, Math.ceil(tiles.lanes / Math.max(1, base))));
  chunks = Math.max(1, Math.min(chunks, Math.floor((16 << 20) / Math.max(1, g.co * g.ci * kd * kh * kw))));
  const rpc = Math.max(1, Math.ceil(rows / chunks));
  return {
    dims: [(od - 1) * g.stride[0] + kd, (oh - 1) * g.stride[1] + kh, up((ow4 * 4 - 1) * g.stride[2] + kw, 4)],
    ow4,
    coutP,
    rows,
    chunks: Math.ceil(rows / rpc),
    rpc,
  };
}

export function tiledWeightGrad(x: Tensor, gy: Tensor, g: ConvGeometry, tiles: ConvTiles): Tensor {
  const device = x.device;
  const [kd, kh, kw] = g.k;
  const [od, oh] = g.out;
  const taps = kd * kh * kw;
  const { dims, ow4, coutP, rows, chunks, rpc } = weightGradPlan(g, tiles);
  if (rows === 0 || g.co === 0 || g.ci === 0) return zeros([g.co, g.ci, kd, kh, kw], { device });
  const xin = padded(x, g.ci, dims, g.pad);
  const gin = padded(gy, coutP, [od, oh, ow4 * 4], [0, 0, 0]);
  const lanes = chunks * g.ci * kd;
  const part = empty([chunks, g.co * g.ci * taps], device, 'conv3d_wgrad');
  const sg = tiles.sg ?? 0;
  // The subgroup variant: whole workgroups per chunk (see wgradKernel).
  const blocks = Math.ceil((g.ci * kd) / tiles.wg);
  const groups = sg ? chunks * blocks : Math.ceil(lanes / tiles.wg);
  const gx = Math.min(groups, device.limits.maxComputeWorkgroupsPerDimension);
  device.dispatch(wgradKernel({ tc4: tiles.wtc4, wg: tiles.wg, sg, kh, kw, sw: g.stride[2] }), {
    inputs: [arg(xin.t), arg(gin.t)],
    outputs: [arg(part)],
    uniforms: {
      cin: g.ci,
      kd,
      sd: g.stride[0],
      sh: g.stride[1],
      dp: dims[0],
      hp: dims[1],
      wp4: dims[2] / 4,
      nd: od,
      nh: oh,
      nw4: ow4,
      coutp: coutP,
      rows,
      rpc,
      lanes,
      cout: g.co,
      chunks,
      blocks,
    },
    workgroups: [gx, coutP / (4 * tiles.wtc4), Math.ceil(groups / gx)],
    label: `wgrad ${describe(g)}`,
  });
  if (xin.owned) xin.t.dispose();
  if (gin.owned) gin.t.dispose();
  let gw: Tensor;
  if (chunks === 1) gw = part.view([g.co, g.ci, kd, kh, kw]);
  else {
    const s = sum(part, 0);
    gw = s.view([g.co, g.ci, kd, kh, kw]);
    s.dispose();
  }
  part.dispose();
  return gw;
}
