import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg, sameDevice } from './util.js';

/**
 * Batched C = A·B with A, B addressed through strides, so transposed operands (the
 * backward's Aᵀ and Bᵀ) need no copy. Each invocation holds a 4×4 block of C in
 * registers; edge rows/columns clamp their loads and skip their stores, which keeps the
 * inner loop free of branches.
 */
const TM = 4;
const TN = 4;
const WG = 8;

const matmulKernel: KernelDef = {
  name: 'bmm',
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
  workgroupSize: [WG, WG, 1],
  body: `  let batch = gid.z;
  let m0 = gid.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= u.m || n0 >= u.n) { return; }
  var rowA: array<u32, ${TM}>;
  for (var i = 0u; i < ${TM}u; i = i + 1u) { rowA[i] = batch * u.sab + min(m0 + i, u.m - 1u) * u.sam; }
  var colB: array<u32, ${TN}>;
  for (var j = 0u; j < ${TN}u; j = j + 1u) { colB[j] = batch * u.sbb + min(n0 + j, u.n - 1u) * u.sbn; }
  var acc: array<vec4<f32>, ${TM}>;
  for (var kk = 0u; kk < u.k; kk = kk + 1u) {
    let bv = vec4<f32>(b[colB[0] + kk * u.sbk], b[colB[1] + kk * u.sbk], b[colB[2] + kk * u.sbk], b[colB[3] + kk * u.sbk]);
    for (var i = 0u; i < ${TM}u; i = i + 1u) {
      acc[i] = fma(vec4<f32>(a[rowA[i] + kk * u.sak]), bv, acc[i]);
    }
  }
  for (var i = 0u; i < ${TM}u; i = i + 1u) {
    let m = m0 + i;
    if (m >= u.m) { break; }
    let base = (batch * u.m + m) * u.n;
    for (var j = 0u; j < ${TN}u; j = j + 1u) {
      if (n0 + j < u.n) { c[base + n0 + j] = acc[i][j]; }
    }
  }`,
};

interface Operand {
  t: Tensor;
  /** Strides (batch, row, col) of the logical matrix. */
  sb: number;
  sr: number;
  sc: number;
}

function run(a: Operand, b: Operand, batch: number, m: number, n: number, k: number, what: string): Tensor {
  const c = empty([batch, m, n], a.t.device, 'bmm');
  a.t.device.dispatch(matmulKernel, {
    inputs: [arg(a.t), arg(b.t)],
    outputs: [arg(c)],
    uniforms: { m, n, k, sab: a.sb, sam: a.sr, sak: a.sc, sbb: b.sb, sbk: b.sr, sbn: b.sc },
    workgroups: [Math.ceil(n / (TN * WG)), Math.ceil(m / (TM * WG)), batch],
    label: what,
  });
  return c;
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
