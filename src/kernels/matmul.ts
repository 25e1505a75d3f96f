import { attachGrad, empty, full, type Tensor } from '../tensor/tensor.js';
import type { Candidate } from '../tensor/tuner.js';
import type { Device } from '../tensor/device.js';
import { shapeClass } from '../tensor/tune-key.js';
import { shippedDefault } from './tune-defaults.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg, sameDevice } from './util.js';

/**
 * Batched C = A·B with A, B addressed through strides, so transposed operands (the
 * backward's Aᵀ and Bᵀ) need no copy. Each invocation holds a TM×4 block of C in
 * registers; edge rows/columns clamp their loads and skip their stores, which keeps the
 * inner loop free of branches. The tuner (device.tuner) picks TM and the workgroup per
 * shape class and operand layout among BMM_VARIANTS; today's 4×4 in 8×8 is the default.
 */
const TN = 4;

export interface BmmTiles {
  /** Rows of C per invocation. */
  tm: number;
  /** Workgroup side (wg × wg invocations). */
  wg: number;
}

const kernels = new Map<string, KernelDef>();

function matmulKernel({ tm, wg }: BmmTiles): KernelDef {
  const key = `${tm}x${wg}`;
  let def = kernels.get(key);
  if (def) return def;
  def = {
    name: tm === 4 && wg === 8 ? 'bmm' : `bmm_${tm}x${TN}_wg${wg}`,
    inputs: ['a', 'b'],
    outputs: ['c'],
    uniforms: [
      { name: 'm', type: 'u32' },
      { name: 'n', type: 'u32' },
      { name: 'k', type: 'u32' },
      { name: 'sab', type: 'u32' },
      { name: 'sam', type: 'u32' },
      { name: 'sak', type: 'u32' },
      { name: 'sbb', type: 'u32' },
      { name: 'sbk', type: 'u32' },
      { name: 'sbn', type: 'u32' },
    ],
    workgroupSize: [wg, wg, 1],
    body: `  let batch = gid.z;
  let m0 = gid.y * ${tm}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= u.m || n0 >= u.n) { return; }
  var rowA: array<u32, ${tm}>;
  for (var i = 0u; i < ${tm}u; i = i + 1u) { rowA[i] = batch * u.sab + min(m0 + i, u.m - 1u) * u.sam; }
  var colB: array<u32, ${TN}>;
  for (var j = 0u; j < ${TN}u; j = j + 1u) { colB[j] = batch * u.sbb + min(n0 + j, u.n - 1u) * u.sbn; }
  var acc: array<vec4<f32>, ${tm}>;
  for (var kk = 0u; kk < u.k; kk = kk + 1u) {
    let bv = vec4<f32>(b[colB[0] + kk * u.sbk], b[colB[1] + kk * u.sbk], b[colB[2] + kk * u.sbk], b[colB[3] + kk * u.sbk]);
    for (var i = 0u; i < ${tm}u; i = i + 1u) {
      acc[i] = fma(vec4<f32>(a[rowA[i] + kk * u.sak]), bv, acc[i]);
    }
  }
  for (var i = 0u; i < ${tm}u; i = i + 1u) {
    let m = m0 + i;
    if (m >= u.m) { break; }
    let base = (batch * u.m + m) * u.n;
    for (var j = 0u; j < ${TN}u; j = j + 1u) {
      if (n0 + j < u.n) { c[base + n0 + j] = acc[i][j]; }
    }
  }`,
  };
  kernels.set(key, def);
  return def;
}

/**
 * The bmm variants the tuner measures: today's 4×4 blocks in 8×8 workgroups; 8×4 blocks
 * (half the B loads per FMA, which is what a CPU adapter pays for); and 16×16 workgroups
 * (more invocations sharing the B columns' cache lines on a GPU).
 */
export const BMM_VARIANTS: readonly Candidate<BmmTiles>[] = [
  { name: 'bmm-4x4-wg8', impl: { tm: 4, wg: 8 } },
  { name: 'bmm-8x4-wg8', impl: { tm: 8, wg: 8 } },
  { name: 'bmm-4x4-wg16', impl: { tm: 4, wg: 16 } },
];

interface Operand {
  t: Tensor;
  /** Strides (batch, row, col) of the logical matrix. */
  sb: number;
  sr: number;
  sc: number;
}

function runWith(tiles: BmmTiles, a: Operand, b: Operand, batch: number, m: number, n: number, k: number, what: string): Tensor {
  const c = empty([batch, m, n], a.t.device, 'bmm');
  a.t.device.dispatch(matmulKernel(tiles), {
    inputs: [arg(a.t), arg(b.t)],
    outputs: [arg(c)],
    uniforms: { m, n, k, sab: a.sb, sam: a.sr, sak: a.sc, sbb: b.sb, sbk: b.sr, sbn: b.sc },
    workgroups: [Math.ceil(n / (TN * tiles.wg)), Math.ceil(m / (tiles.tm * tiles.wg)), batch],
    label: what,
  });
  return c;
}

/** 'n' for a row-major operand, 't' for a transposed one: the access pattern the timing depends on. */
const layout = (o: Operand): string => (o.sc === 1 ? 'n' : 't');

const BMM_NAMES = BMM_VARIANTS.map((c) => c.name);
const bmmDefault = (device: Device): string => shippedDefault(device, 'bmm', BMM_NAMES) ?? BMM_NAMES[0]!;

function run(a: Operand, b: Operand, batch: number, m: number, n: number, k: number, what: string): Tensor {
  const device = a.t.device;
  const tiles = device.tuner.choose({
    key: { op: 'bmm', family: layout(a) + layout(b), shape: shapeClass([batch, m, n, k]), attrs: '' },
    candidates: BMM_VARIANTS,
    fallback: bmmDefault(device),
    trial: () => {
      const ta = full(a.t.shape, 0.5, { device });
      const tb = full(b.t.shape, 0.5, { device });
      return {
        run: (t) => runWith(t, { ...a, t: ta }, { ...b, t: tb }, batch, m, n, k, what).dispose(),
        dispose: () => {
          ta.dispose();
          tb.dispose();
        },
      };
    },
  });
  return runWith(tiles, a, b, batch, m, n, k, what);
}

/** Row-major [B, R, C] as a matrix operand, or its transpose. */
const plain = (t: Tensor, r: number, c: number): Operand => ({ t, sb: r * c, sr: c, sc: 1 });
const transposed = (t: Tensor, r: number, c: number): Operand => ({ t, sb: r * c, sr: 1, sc: c });

/** Batched matrix product: a [B, M, K] · b [B, K, N] → [B, M, N], like torch.bmm. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  sameDevice('bmm', a, b);
  if (a.rank !== 3 || b.rank !== 3 || a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new ShapeError(`bmm: expected [B, M, K] and [B, K, N], got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  }
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const c = run(plain(a, M, K), plain(b, K, N), B, M, N, K, `${fmt(a.shape)} x ${fmt(b.shape)}`);
  attachGrad('bmm', [a, b], [c], [a, b], (g, [as, bs]) => {
    const gc = g[0]!;
    // dA = G·Bᵀ  [B,M,N]x[B,N,K];  dB = Aᵀ·G  [B,K,M]x[B,M,N]
    const da = run(plain(gc, M, N), transposed(bs!, K, N), B, M, K, N, `grad A ${fmt(a.shape)}`);
    const db = run(transposed(as!, M, K), plain(gc, M, N), B, K, N, M, `grad B ${fmt(b.shape)}`);
    return [da, db];
  });
  return c;
}

/** Matrix product of 2-D tensors (and batched 3-D ones), like torch.matmul without batch broadcasting. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 2 && b.rank === 2) {
    if (a.shape[1] !== b.shape[0]) throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a.shape)} x ${fmt(b.shape)}`);
    const a3 = a.reshape([1, ...a.shape]);
    const b3 = b.reshape([1, ...b.shape]);
    const c3 = bmm(a3, b3);
    const c = c3.reshape([a.shape[0]!, b.shape[1]!]);
    a3.dispose();
    b3.dispose();
    c3.dispose();
    return c;
  }
  if (a.rank === 3 && b.rank === 3) return bmm(a, b);
  throw new ShapeError(`matmul: supports 2-D x 2-D and 3-D x 3-D, got ${fmt(a.shape)} x ${fmt(b.shape)}`);
}
