/**
 * Kernel checks that run unchanged in a browser (bundled into the browser suite) and in Node
 * (browser.test.ts runs them on Dawn for comparison): each op on small shapes against a plain
 * host reference, forward and, where the op has one, backward. No vitest here: results are
 * data, so both runs can be compared number by number.
 *
 * The references are the library's own op tables (unaryOps/binaryOps `ref`), the conv3d
 * reference of test/kernels, and short float64 loops written from PyTorch's definitions.
 */
import { backward, Generator, tensor, type Device, type Tensor } from '../../src/core.js';
import {
  bceWithLogits,
  binary,
  binaryOps,
  bmm,
  cat,
  conv3d,
  crop,
  flip,
  globalAvgPool3d,
  instanceNorm3d,
  interpolate,
  matmul,
  mean,
  mul,
  pad,
  sigmoid,
  slice,
  softmax,
  sum,
  unary,
  unaryOps,
  type BinaryOpName,
  type Conv3dVariant,
  type UnaryOpName,
} from '../../src/kernels/index.js';
import { compare } from '../../src/conformance/runner.js';
import { refConv3d, refConv3dGrads, type RefConv } from '../kernels/conv3d-ref.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'error';
  /** Largest |got − want| over everything the check compared. */
  maxAbsErr: number;
  tol: Tolerance;
  detail?: string;
  ms: number;
}

/** One comparison: a GPU tensor against host values of the expected shape. */
interface Expect {
  what: string;
  got: Tensor;
  want: ArrayLike<number>;
  shape: readonly number[];
}

interface Check {
  name: string;
  tol: Tolerance;
  run(ctx: Ctx): Expect[] | Promise<Expect[]>;
}

/** Makes tensors for one check and remembers them, so the runner can free them all. */
class Ctx {
  readonly made: Tensor[] = [];
  constructor(readonly device: Device) {}
  t(data: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
    const x = tensor(Float32Array.from(data), [...shape], { device: this.device, requiresGrad });
    this.made.push(x);
    return x;
  }
  keep<T extends Tensor>(x: T): T {
    this.made.push(x);
    return x;
  }
  grad(x: Tensor): Tensor {
    if (!x.grad) throw new Error('no gradient reached an input');
    return x.grad;
  }
}

// ---- host helpers ------------------------------------------------------------------------

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * g.uniform());
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/** Offset of a broadcast operand's element for an output index (right-aligned, size-1 axes repeat). */
function broadcastOffset(idx: readonly number[], shape: readonly number[]): number {
  const off = idx.length - shape.length;
  let k = 0;
  for (let d = 0; d < shape.length; d++) k = k * shape[d]! + (shape[d] === 1 ? 0 : idx[d + off]!);
  return k;
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const x = a[i - (r - a.length)] ?? 1;
    const y = b[i - (r - b.length)] ?? 1;
    return x === 1 ? y : x;
  });
}

/** Sum of `values` (over `out`) into the shape of a broadcast operand. */
function sumToShape(values: ArrayLike<number>, out: readonly number[], shape: readonly number[]): Float64Array {
  const r = new Float64Array(numel(shape));
  for (let i = 0; i < values.length; i++) r[broadcastOffset(unravel(i, out), shape)]! += values[i]!;
  return r;
}

/** Sum over `axes` (dropped from the shape). */
function hostSum(x: ArrayLike<number>, shape: readonly number[], axes: readonly number[]): { data: Float64Array; shape: number[] } {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const r = new Float64Array(numel(outShape));
  for (let i = 0; i < x.length; i++) r[broadcastOffset(unravel(i, shape), kept)]! += x[i]!;
  return { data: r, shape: outShape };
}

function hostSoftmax(x: ArrayLike<number>, shape: readonly number[], axis: number): Float64Array {
  const st = strides(shape);
  const n = shape[axis]!;
  const r = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (unravel(i, shape)[axis] !== 0) continue;
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = Math.max(m, x[i + k * st[axis]!]!);
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(x[i + k * st[axis]!]! - m);
    for (let k = 0; k < n; k++) r[i + k * st[axis]!] = Math.exp(x[i + k * st[axis]!]! - m) / s;
  }
  return r;
}

/** [B, M, K] × [B, K, N], optionally with either operand transposed in its last two axes. */
function hostBmm(a: ArrayLike<number>, b: ArrayLike<number>, B: number, M: number, K: number, N: number, ta = false, tb = false): Float64Array {
  const r = new Float64Array(B * M * N);
  for (let z = 0; z < B; z++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[z * M * K + (ta ? k * M + i : i * K + k)]! * b[z * K * N + (tb ? j * K + k : k * N + j)]!;
        r[(z * M + i) * N + j] = s;
      }
  return r;
}

/** PyTorch's source coordinate of a trilinear output index on one axis. */
function srcCoord(o: number, inSize: number, outSize: number, align: boolean, scale: number): number {
  if (align) return outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
  return Math.max(0, (o + 0.5) * scale - 0.5);
}

function hostTrilinear(x: ArrayLike<number>, shape: readonly number[], out: readonly number[], align: boolean, scales: readonly number[]): Float64Array {
  const [N, C, D, H, W] = shape as [number, number, number, number, number];
  const [OD, OH, OW] = out as [number, number, number];
  const r = new Float64Array(N * C * OD * OH * OW);
  const axis = (o: number, n: number, on: number, s: number): [number, number, number] => {
    const c = srcCoord(o, n, on, align, s);
    const i0 = Math.min(Math.floor(c), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    return [i0, i1, c - i0];
  };
  let k = 0;
  for (let p = 0; p < N * C; p++)
    for (let z = 0; z < OD; z++) {
      const [z0, z1, lz] = axis(z, D, OD, scales[0]!);
      for (let y = 0; y < OH; y++) {
        const [y0, y1, ly] = axis(y, H, OH, scales[1]!);
        for (let xx = 0; xx < OW; xx++, k++) {
          const [x0, x1, lx] = axis(xx, W, OW, scales[2]!);
          const v = (zz: number, yy: number, xi: number) => x[((p * D + zz) * H + yy) * W + xi]!;
          const plane = (zz: number) => (1 - ly) * ((1 - lx) * v(zz, y0, x0) + lx * v(zz, y0, x1)) + ly * ((1 - lx) * v(zz, y1, x0) + lx * v(zz, y1, x1));
          r[k] = (1 - lz) * plane(z0) + lz * plane(z1);
        }
      }
    }
  return r;
}

// ---- the checks ------------------------------------------------------------------------

const EXACT: Tolerance = { rtol: 0, atol: 0 };
const ELEMENTWISE: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const REDUCTION: Tolerance = { rtol: 1e-5, atol: 1e-5 };
const CONV: Tolerance = { rtol: 1e-4, atol: 1e-4 };

/** Inputs that keep each unary op inside its domain and away from kinks. */
function unaryInput(name: string, n: number, seed: number): Float32Array {
  const a = rand(n, seed, -3, 3);
  if (name === 'log' || name === 'sqrt') return a.map((v) => 0.5 + Math.abs(v));
  if (name === 'relu' || name === 'leaky_relu' || name === 'abs') return a.map((v) => (Math.abs(v) < 0.05 ? v + 0.2 : v));
  return a;
}

const unaryChecks: Check[] = (Object.keys(unaryOps) as UnaryOpName[]).map((name, i) => ({
  name: `unary ${name}`,
  tol: ELEMENTWISE,
  run: (c) => {
    const x = unaryInput(name, 60, 100 + i);
    const p = name === 'leaky_relu' ? 0.2 : name === 'scale' || name === 'add_scalar' ? 1.7 : 0;
    return [{ what: name, got: c.keep(unary(name, c.t(x, [3, 4, 5]), p)), want: x.map((v) => unaryOps[name].ref(v, p)), shape: [3, 4, 5] }];
  },
}));

const binaryChecks: Check[] = (Object.keys(binaryOps) as BinaryOpName[]).map((name, i) => ({
  name: `binary ${name} (broadcast)`,
  tol: ELEMENTWISE,
  run: (c) => {
    const as = [2, 3, 1, 4];
    const bs = [3, 5, 1];
    const out = broadcastShape(as, bs);
    const a = rand(numel(as), 200 + i);
    const b = rand(numel(bs), 300 + i).map((v) => (name === 'div' ? Math.sign(v || 1) * (0.5 + Math.abs(v)) : v));
    const want = Float64Array.from({ length: numel(out) }, (_, k) => {
      const idx = unravel(k, out);
      return binaryOps[name].ref(a[broadcastOffset(idx, as)]!, b[broadcastOffset(idx, bs)]!);
    });
    const y = c.keep(binary(name, c.t(a, as), c.t(b, bs)));
    return [{ what: name, got: y, want, shape: out }];
  },
}));

const otherChecks: Check[] = [
  {
    name: 'mul backward (broadcast gradients summed back)',
    tol: REDUCTION,
    run: (c) => {
      const as = [2, 3, 4];
      const bs = [3, 1];
      const a = rand(24, 11);
      const b = rand(3, 12);
      const g = rand(24, 13);
      const ta = c.t(a, as, true);
      const tb = c.t(b, bs, true);
      backward(c.keep(mul(ta, tb)), c.t(g, as));
      const gaWant = Float64Array.from(g, (v, k) => v * b[broadcastOffset(unravel(k, as), bs)]!);
      const gbWant = sumToShape(Float64Array.from(g, (v, k) => v * a[k]!), as, bs);
      return [
        { what: 'grad a', got: c.grad(ta), want: gaWant, shape: as },
        { what: 'grad b', got: c.grad(tb), want: gbWant, shape: bs },
      ];
    },
  },
  {
    name: 'sigmoid·w summed: chained backward',
    tol: REDUCTION,
    run: (c) => {
      const xs = [2, 3, 2, 2];
      const ws = [1, 3, 1, 1];
      const x = rand(24, 21, -2, 2);
      const w = rand(3, 22);
      const tx = c.t(x, xs, true);
      const tw = c.t(w, ws, true);
      const loss = c.keep(sum(mul(c.keep(sigmoid(tx)), tw)));
      backward(loss);
      const s = x.map((v) => 1 / (1 + Math.exp(-v)));
      const ch = (k: number) => unravel(k, xs)[1]!;
      let total = 0;
      s.forEach((v, k) => (total += v * w[ch(k)]!));
      return [
        { what: 'loss', got: loss, want: [total], shape: [] },
        { what: 'grad x', got: c.grad(tx), want: Float64Array.from(s, (v, k) => v * (1 - v) * w[ch(k)]!), shape: xs },
        { what: 'grad w', got: c.grad(tw), want: sumToShape(s, xs, ws), shape: ws },
      ];
    },
  },
  {
    name: 'sum over axes 1, 3 and mean of all',
    tol: REDUCTION,
    run: (c) => {
      const shape = [3, 5, 4, 6];
      const x = rand(numel(shape), 31);
      const s = hostSum(x, shape, [1, 3]);
      let all = 0;
      x.forEach((v) => (all += v));
      const tx = c.t(x, shape);
      return [
        { what: 'sum', got: c.keep(sum(tx, [1, 3])), want: s.data, shape: s.shape },
        { what: 'mean', got: c.keep(mean(tx)), want: [all / x.length], shape: [] },
      ];
    },
  },
  {
    name: 'softmax over the last axis and over axis 1',
    tol: REDUCTION,
    run: (c) => {
      const shape = [2, 5, 7];
      const x = rand(numel(shape), 41, -4, 4);
      const tx = c.t(x, shape);
      return [
        { what: 'softmax(-1)', got: c.keep(softmax(tx, -1)), want: hostSoftmax(x, shape, 2), shape },
        { what: 'softmax(1)', got: c.keep(softmax(tx, 1)), want: hostSoftmax(x, shape, 1), shape },
      ];
    },
  },
  {
    name: 'matmul and bmm, with bmm gradients',
    tol: REDUCTION,
    run: (c) => {
      const [B, M, K, N] = [2, 5, 7, 3];
      const a = rand(B * M * K, 51);
      const b = rand(B * K * N, 52);
      const g = rand(B * M * N, 53);
      const ta = c.t(a, [B, M, K], true);
      const tb = c.t(b, [B, K, N], true);
      const y = c.keep(bmm(ta, tb));
      backward(y, c.t(g, [B, M, N]));
      const a2 = a.subarray(0, M * K);
      const b2 = b.subarray(0, K * N);
      return [
        { what: 'matmul', got: c.keep(matmul(c.t(a2, [M, K]), c.t(b2, [K, N]))), want: hostBmm(a2, b2, 1, M, K, N), shape: [M, N] },
        { what: 'bmm', got: y, want: hostBmm(a, b, B, M, K, N), shape: [B, M, N] },
        { what: 'grad a', got: c.grad(ta), want: hostBmm(g, b, B, M, N, K, false, true), shape: [B, M, K] },
        { what: 'grad b', got: c.grad(tb), want: hostBmm(a, g, B, K, M, N, true, false), shape: [B, K, N] },
      ];
    },
  },
  {
    name: 'cat on axis 1 and slice',
    tol: EXACT,
    run: (c) => {
      const a = rand(2 * 3 * 4, 61);
      const b = rand(2 * 2 * 4, 62);
      const want: number[] = [];
      for (let n = 0; n < 2; n++) want.push(...a.subarray(n * 12, n * 12 + 12), ...b.subarray(n * 8, n * 8 + 8));
      const y = c.keep(cat([c.t(a, [2, 3, 4]), c.t(b, [2, 2, 4])], 1));
      const sliced: number[] = [];
      for (let n = 0; n < 2; n++) for (let ch = 1; ch < 4; ch++) sliced.push(...want.slice(n * 20 + ch * 4, n * 20 + ch * 4 + 4));
      return [
        { what: 'cat', got: y, want, shape: [2, 5, 4] },
        { what: 'slice', got: c.keep(slice(y, 1, 1, 4)), want: sliced, shape: [2, 3, 4] },
      ];
    },
  },
  {
    name: 'pad, crop and flip',
    tol: EXACT,
    run: (c) => {
      const shape = [2, 2, 3, 4];
      const x = rand(numel(shape), 71);
      const tx = c.t(x, shape);
      // pad H by (1, 2) and W by (2, 0) with 0.5
      const ps = [2, 2, 6, 6];
      const padded = Float64Array.from({ length: numel(ps) }, (_, k) => {
        const [n, ch, h, w] = unravel(k, ps) as [number, number, number, number];
        const sh = h - 1;
        const sw = w - 2;
        return sh >= 0 && sh < 3 && sw >= 0 && sw < 4 ? x[((n * 2 + ch) * 3 + sh) * 4 + sw]! : 0.5;
      });
      const cropped = Float64Array.from({ length: 2 * 2 * 2 * 2 }, (_, k) => {
        const [n, ch, h, w] = unravel(k, [2, 2, 2, 2]) as [number, number, number, number];
        return x[((n * 2 + ch) * 3 + h + 1) * 4 + w + 1]!;
      });
      const flipped = Float64Array.from({ length: x.length }, (_, k) => {
        const [n, ch, h, w] = unravel(k, shape) as [number, number, number, number];
        return x[((n * 2 + (1 - ch)) * 3 + h) * 4 + (3 - w)]!;
      });
      return [
        { what: 'pad', got: c.keep(pad(tx, [[1, 2], [2, 0]], 0.5)), want: padded, shape: ps },
        { what: 'crop', got: c.keep(crop(tx, [1, 1], [2, 2])), want: cropped, shape: [2, 2, 2, 2] },
        { what: 'flip', got: c.keep(flip(tx, [1, 3])), want: flipped, shape },
      ];
    },
  },
  {
    name: 'trilinear interpolation (half-pixel ×2, align-corners to a size)',
    tol: ELEMENTWISE,
    run: (c) => {
      const shape = [1, 2, 3, 4, 5];
      const x = rand(numel(shape), 81);
      const tx = c.t(x, shape);
      const half = hostTrilinear(x, shape, [6, 8, 10], false, [0.5, 0.5, 0.5]);
      const size = [5, 3, 7];
      const align = hostTrilinear(x, shape, size, true, [0, 0, 0]);
      return [
        { what: 'half-pixel ×2', got: c.keep(interpolate(tx, { scaleFactor: 2 })), want: half, shape: [1, 2, 6, 8, 10] },
        { what: 'align-corners', got: c.keep(interpolate(tx, { size, alignCorners: true })), want: align, shape: [1, 2, ...size] },
      ];
    },
  },
  {
    name: 'instance norm (affine) and global average pool',
    tol: REDUCTION,
    run: (c) => {
      const shape = [2, 3, 4, 3, 5];
      const V = 60;
      const x = rand(numel(shape), 91, -2, 3);
      const w = rand(3, 92);
      const b = rand(3, 93);
      const norm = new Float64Array(x.length);
      const pool = new Float64Array(6);
      for (let p = 0; p < 6; p++) {
        let m = 0;
        for (let i = 0; i < V; i++) m += x[p * V + i]!;
        m /= V;
        let v = 0;
        for (let i = 0; i < V; i++) v += (x[p * V + i]! - m) ** 2;
        v /= V;
        const ch = p % 3;
        for (let i = 0; i < V; i++) norm[p * V + i] = ((x[p * V + i]! - m) / Math.sqrt(v + 1e-5)) * w[ch]! + b[ch]!;
        pool[p] = m;
      }
      const tx = c.t(x, shape);
      return [
        { what: 'instance norm', got: c.keep(instanceNorm3d(tx, c.t(w, [3]), c.t(b, [3]), 1e-5)), want: norm, shape },
        { what: 'global avg pool', got: c.keep(globalAvgPool3d(tx)), want: pool, shape: [2, 3, 1, 1, 1] },
      ];
    },
  },
  {
    name: 'BCE with logits (per element and mean)',
    tol: REDUCTION,
    run: (c) => {
      const shape = [2, 3, 4, 4, 2];
      const x = rand(numel(shape), 101, -5, 5);
      const t = rand(numel(shape), 102, 0, 1).map((v) => (v > 0.6 ? 1 : 0));
      const ref = Float64Array.from(x, (v, k) => Math.max(v, 0) - v * t[k]! + Math.log1p(Math.exp(-Math.abs(v))));
      let m = 0;
      ref.forEach((v) => (m += v));
      const tx = c.t(x, shape);
      const tt = c.t(t, shape);
      return [
        { what: 'none', got: c.keep(bceWithLogits(tx, tt, { reduction: 'none' })), want: ref, shape },
        { what: 'mean', got: c.keep(bceWithLogits(tx, tt)), want: [m / ref.length], shape: [] },
      ];
    },
  },
];

/** conv3d on every implementation the runtime has (the adapter picks one of the tiled ones by default). */
const convChecks: Check[] = (['direct', 'cpu', 'gpu'] as Conv3dVariant[]).flatMap((variant) =>
  (
    [
      { x: [1, 3, 5, 6, 7], co: 4, stride: [1, 1, 1], pad: [1, 1, 1], seed: 1 },
      { x: [2, 2, 6, 5, 4], co: 3, stride: [2, 2, 2], pad: [1, 1, 1], seed: 2 },
    ] as const
  ).map((geo): Check => ({
    name: `conv3d ${variant} k3 s${geo.stride[0]} x[${geo.x.join(',')}]→${geo.co}`,
    tol: CONV,
    run: (c) => {
      const ci = geo.x[1];
      const ref: RefConv = {
        x: rand(numel(geo.x), 500 + geo.seed),
        xShape: geo.x,
        w: rand(geo.co * ci * 27, 600 + geo.seed, -0.5, 0.5),
        wShape: [geo.co, ci, 3, 3, 3],
        b: rand(geo.co, 700 + geo.seed),
        stride: geo.stride,
        pad: geo.pad,
      };
      const tx = c.t(ref.x, ref.xShape, true);
      const tw = c.t(ref.w, ref.wShape, true);
      const tb = c.t(ref.b!, [geo.co], true);
      const y = c.keep(conv3d(tx, tw, tb, { stride: geo.stride, padding: geo.pad, variant }));
      const want = refConv3d(ref);
      const gy = rand(want.length, 800 + geo.seed);
      backward(y, c.t(gy, y.shape));
      const grads = refConv3dGrads(ref, gy);
      return [
        { what: 'y', got: y, want, shape: y.shape },
        { what: 'grad x', got: c.grad(tx), want: grads.gx, shape: ref.xShape },
        { what: 'grad w', got: c.grad(tw), want: grads.gw, shape: ref.wShape },
        { what: 'grad b', got: c.grad(tb), want: grads.gb, shape: [geo.co] },
      ];
    },
  })),
);

export const KERNEL_CHECKS: readonly Check[] = [...unaryChecks, ...binaryChecks, ...otherChecks, ...convChecks];

/** Runs every check (or those whose name contains `filter`), reporting each as it finishes. */
export async function runKernelChecks(device: Device, onResult?: (r: CheckResult) => void, filter?: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of KERNEL_CHECKS) {
    if (filter && !check.name.includes(filter)) continue;
    const ctx = new Ctx(device);
    const t0 = performance.now();
    let r: CheckResult;
    try {
      const expects = await check.run(ctx);
      let maxAbs = 0;
      const failures: string[] = [];
      for (const e of expects) {
        const cmp = compare(e.what, await e.got.data(), e.got.shape, { shape: [...e.shape], data: Array.from(e.want) }, check.tol);
        maxAbs = Math.max(maxAbs, cmp.maxAbs);
        if (cmp.worst) failures.push(cmp.worst);
      }
      r = { name: check.name, status: failures.length ? 'fail' : 'pass', maxAbsErr: maxAbs, tol: check.tol, ms: 0, ...(failures.length ? { detail: failures.join('; ') } : {}) };
    } catch (e) {
      r = { name: check.name, status: 'error', maxAbsErr: Infinity, tol: check.tol, ms: 0, detail: e instanceof Error ? e.message : String(e) };
    } finally {
      for (const t of ctx.made) {
        t.zeroGrad();
        t.dispose();
      }
    }
    r.ms = performance.now() - t0;
    results.push(r);
    onResult?.(r);
  }
  return results;
}
