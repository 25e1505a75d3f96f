import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt, type Shape } from '../tensor/shape.js';
import { HnfnetError, ShapeError } from '../tensor/errors.js';
import { arg } from './util.js';
import { bindingElems, copyElements } from '../tensor/chunks.js';
import type { DType } from '../tensor/dtype.js';
import { block, place, planeBlocks } from './split.js';

/**
 * Trilinear interpolation of [N, C, D, H, W] volumes with PyTorch's exact index rules
 * (torch.nn.functional.interpolate(mode='trilinear'), CPU kernel):
 *
 * - output size: `size`, or floor(in · scaleFactor) per axis;
 * - per axis, a scale: align_corners → (in−1)/(out−1) (0 when out = 1); otherwise 1/scaleFactor
 *   when a scale factor was given (and recomputeScaleFactor is not set), else in/out. So
 *   interpolate(x, {scaleFactor: 1.5}) on 5 voxels gives 7 voxels sampled every 1/1.5 input
 *   voxels, not every 5/7: that is what PyTorch does with recompute_scale_factor unset;
 * - source coordinate of output o: align_corners → scale·o; otherwise the half-pixel
 *   scale·(o + 0.5) − 0.5, clamped at 0; index i0 = min(floor(src), in−1), i1 = min(i0+1, in−1),
 *   weight of i1 = clamp(src − i0, 0, 1);
 * - an axis whose output size equals its input size is copied as is (PyTorch's special
 *   case, which matters only with a scale factor whose floor lands on the input size).
 */
export interface InterpolateOptions {
  /** Output spatial size [D, H, W] (a number means the same on all three axes). */
  size?: number | readonly number[];
  /** Multiplier of the spatial size, one number or one per axis. */
  scaleFactor?: number | readonly number[];
  /** PyTorch's align_corners (default false: the half-pixel convention). */
  alignCorners?: boolean;
  /** As in PyTorch: derive the coordinate scale from the rounded output size instead of scaleFactor. */
  recomputeScaleFactor?: boolean;
  /** Only 'trilinear' exists; accepted so calls can read like PyTorch's. */
  mode?: 'trilinear';
}

interface Plan {
  inSize: [number, number, number];
  outSize: [number, number, number];
  /** Coordinate scale per axis (output index → input coordinate). */
  scales: [number, number, number];
  align: boolean;
}

function triple(v: number | readonly number[], what: string, shape: Shape): number[] {
  const list = typeof v === 'number' ? [v, v, v] : [...v];
  if (list.length !== 3) throw new ShapeError(`interpolate: ${what} needs 1 or 3 values for the spatial axes of ${fmt(shape)}, got ${list.length}`);
  return list;
}

/** Output size and coordinate scales of an interpolation, as PyTorch computes them. */
export function interpolatePlan(shape: Shape, opts: InterpolateOptions): Plan {
  if (shape.length !== 5) throw new ShapeError(`interpolate: expected a 5-D [N, C, D, H, W] input, got ${fmt(shape)}`);
  if (opts.mode !== undefined && opts.mode !== 'trilinear') throw new HnfnetError(`interpolate: mode "${String(opts.mode)}" is not supported (only trilinear)`);
  const inSize = [shape[2]!, shape[3]!, shape[4]!] as [number, number, number];
  if (inSize.some((d) => d < 1)) throw new ShapeError(`interpolate: input ${fmt(shape)} has an empty spatial axis`);
  const align = !!opts.alignCorners;
  let outSize: number[];
  let factors: number[] | null = null;
  if (opts.size !== undefined && opts.scaleFactor !== undefined) {
    throw new ShapeError(`interpolate: give either size or scaleFactor, not both (input ${fmt(shape)})`);
  } else if (opts.size !== undefined) {
    outSize = triple(opts.size, 'size', shape);
    if (outSize.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ShapeError(`interpolate: size ${fmt(outSize)} must be positive integers (input ${fmt(shape)})`);
    }
  } else if (opts.scaleFactor !== undefined) {
    const f = triple(opts.scaleFactor, 'scaleFactor', shape);
    if (f.some((s) => !(s > 0) || !Number.isFinite(s))) throw new ShapeError(`interpolate: scaleFactor ${fmt(f)} must be positive (input ${fmt(shape)})`);
    outSize = inSize.map((d, i) => Math.floor(d * f[i]!));
    if (outSize.some((d) => d < 1)) {
      throw new ShapeError(`interpolate: scaleFactor ${fmt(f)} turns input ${fmt(shape)} into an empty output ${fmt(outSize)}`);
    }
    if (!opts.recomputeScaleFactor) factors = f;
  } else {
    throw new ShapeError(`interpolate: give size or scaleFactor (input ${fmt(shape)})`);
  }
  const scales = inSize.map((n, i) => {
    const o = outSize[i]!;
    if (align) return o > 1 ? (n - 1) / (o - 1) : 0;
    return factors ? 1 / factors[i]! : n / o;
  }) as [number, number, number];
  return { inSize, outSize: outSize as [number, number, number], scales, align };
}

/**
 * Trilinear interpolation is separable: the forward is three 1-D linear resamplings (W,
 * then H, then D: the nesting of PyTorch's 8-tap formula, so the f32 rounding is that of
 * the direct formula), and the backward is their transposes in reverse order. One kernel resamples
 * x viewed as [outer, nin, inner] along the middle axis. Passes along D and H move whole
 * W-rows, so when W (or the row length) is a multiple of 4 they load and store vec4s; on
 * lavapipe, where every storage access is a bounds-checked per-lane operation, that and
 * 2 taps an output (instead of 8 scattered loads) are what make it fast. Axes whose size
 * does not change are skipped, as PyTorch copies them.
 */
const uniforms = [
  { name: 'outer', type: 'u32' },
  { name: 'nin', type: 'u32' },
  { name: 'nout', type: 'u32' },
  { name: 'inner', type: 'u32' },
  { name: 'scale', type: 'f32' },
  { name: 'align', type: 'u32' },
] as const;

/** The one definition of the source index and weight, shared by forward and backward. */
const linHelper = `
struct Lin { i0: u32, i1: u32, l1: f32 }
fn lin(o: u32) -> Lin {
  if (u.nin == u.nout) { return Lin(o, o, 0.0); }
  var src = u.scale * f32(o);
  if (u.align == 0u) { src = max(u.scale * (f32(o) + 0.5) - 0.5, 0.0); }
  let i0 = min(u32(src), u.nin - 1u);
  return Lin(i0, min(i0 + 1u, u.nin - 1u), clamp(src - f32(i0), 0.0, 1.0));
}`;

/**
 * The backward gathers instead of scattering: each input index i sums the outputs whose
 * taps reach it, so no two invocations write one address (no atomics). Output o reaches i
 * iff i0(o) ∈ {i−1, i} (i1 is i0+1, or i0 itself at the last index); i0 never decreases
 * with o, so those o form one range, estimated in closed form and then settled against
 * `lin` itself so that rounding in the estimate cannot drop or add an output.
 */
const rangeHelper = `
fn first_i0(o: i32) -> i32 { return i32(lin(u32(o)).i0); }
fn orange(i: u32) -> vec2<u32> {
  if (u.nin == u.nout) { return vec2<u32>(i, i + 1u); }
  let fi = f32(i);
  let n = i32(u.nout);
  let ii = i32(i);
  var lo = 0;
  var hi = n;
  if (u.scale > 0.0) {
    if (u.align != 0u) {
      lo = i32(ceil((fi - 1.0) / u.scale));
      hi = i32(ceil((fi + 1.0) / u.scale));
    } else {
      lo = i32(ceil((fi - 0.5) / u.scale - 0.5));
      hi = i32(ceil((fi + 1.5) / u.scale - 0.5));
    }
  }
  lo = clamp(lo, 0, n);
  loop { if (lo == 0 || first_i0(lo - 1) < ii - 1) { break; } lo = lo - 1; }
  loop { if (lo == n || first_i0(lo) >= ii - 1) { break; } lo = lo + 1; }
  hi = clamp(hi, lo, n);
  loop { if (hi == n || first_i0(hi) > ii) { break; } hi = hi + 1; }
  loop { if (hi == lo || first_i0(hi - 1) <= ii) { break; } hi = hi - 1; }
  return vec2<u32>(u32(lo), u32(hi));
}
fn wt(o: u32, i: u32) -> f32 {
  let l = lin(o);
  return select(0.0, 1.0 - l.l1, l.i0 == i) + select(0.0, l.l1, l.i1 == i);
}`;

const passKernels = new Map<string, KernelDef>();

/**
 * How a pass lays out its elements: 'vec4' moves 4 adjacent inner elements per load (inner
 * a multiple of 4), 'vec16' four such vec4s per invocation (inner a multiple of 16: the
 * index math and weights are then shared by 16 elements, which measured about twice as
 * fast as 'vec4' on lavapipe); 'row' is the pass along W itself (inner = 1) with rows a multiple of 4
 * long, where each invocation makes 4 neighbouring outputs and stores them as one vec4 (the
 * transposed pass sweeps the union of their ranges once, reading each g once); 'scalar'
 * is everything else.
 */
type Layout = 'scalar' | 'vec4' | 'vec16' | 'row';

/** One 1-D pass, forward (2 taps per output) or transposed (a gather per input). */
function passKernel(backward: boolean, layout: Layout): KernelDef {
  const key = `${backward}${layout}`;
  let k = passKernels.get(key);
  if (k) return k;
  const T = layout === 'vec4' || layout === 'vec16' ? 'vec4<f32>' : 'f32';
  const name = `interpolate_trilinear${backward ? '_backward' : ''}${layout === 'scalar' ? '' : `_${layout}`}`;
  const src = backward ? 'g' : 'x';
  const dst = backward ? 'dx' : 'y';
  const dstType = layout === 'scalar' ? 'f32' : 'vec4<f32>';
  let body: string;
  if (layout === 'row' && backward) {
    body = `  if (idx >= u.outer * (u.nin / 4u)) { return; }
  let q = idx / (u.nin / 4u);
  let i = 4u * (idx % (u.nin / 4u));
  let iv = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
  let base = q * u.nout;
  let hi = orange(i + 3u).y;
  var acc = vec4<f32>(0.0);
  for (var o = orange(i).x; o < hi; o = o + 1u) {
    let l = lin(o);
    let w = select(vec4<f32>(0.0), vec4<f32>(1.0 - l.l1), vec4<u32>(l.i0) == iv) + select(vec4<f32>(0.0), vec4<f32>(l.l1), vec4<u32>(l.i1) == iv);
    acc = acc + w * g[base + o];
  }
  dx[idx] = acc;`;
  } else if (layout === 'row') {
    body = `  if (idx >= u.outer * (u.nout / 4u)) { return; }
  let q = idx / (u.nout / 4u);
  let o = 4u * (idx % (u.nout / 4u));
  let base = q * u.nin;
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k = k + 1u) {
    let l = lin(o + k);
    v[k] = x[base + l.i0] * (1.0 - l.l1) + x[base + l.i1] * l.l1;
  }
  y[idx] = v;`;
  } else if (layout === 'vec16' && backward) {
    body = `  if (idx >= u.outer * u.nin * (u.inner / 4u)) { return; }
  let j = 4u * (idx % (u.inner / 4u));
  let t = idx / (u.inner / 4u);
  let i = t % u.nin;
  let r = orange(i);
  let base = (t / u.nin) * u.nout * u.inner + j;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var o = r.x; o < r.y; o = o + 1u) {
    let w = wt(o, i);
    let b = base + o * u.inner;
    a0 = a0 + w * g[b];
    a1 = a1 + w * g[b + 1u];
    a2 = a2 + w * g[b + 2u];
    a3 = a3 + w * g[b + 3u];
  }
  let d = (t * u.inner + j);
  dx[d] = a0;
  dx[d + 1u] = a1;
  dx[d + 2u] = a2;
  dx[d + 3u] = a3;`;
  } else if (layout === 'vec16') {
    body = `  if (idx >= u.outer * u.nout * (u.inner / 4u)) { return; }
  let j = 4u * (idx % (u.inner / 4u));
  let t = idx / (u.inner / 4u);
  let l = lin(t % u.nout);
  let base = (t / u.nout) * u.nin * u.inner + j;
  let b0 = base + l.i0 * u.inner;
  let b1 = base + l.i1 * u.inner;
  let w1 = l.l1;
  let w0 = 1.0 - w1;
  let d = t * u.inner + j;
  y[d] = x[b0] * w0 + x[b1] * w1;
  y[d + 1u] = x[b0 + 1u] * w0 + x[b1 + 1u] * w1;
  y[d + 2u] = x[b0 + 2u] * w0 + x[b1 + 2u] * w1;
  y[d + 3u] = x[b0 + 3u] * w0 + x[b1 + 3u] * w1;`;
  } else if (backward) {
    body = `  if (idx >= u.outer * u.nin * u.inner) { return; }
  let j = idx % u.inner;
  let t = idx / u.inner;
  let i = t % u.nin;
  let r = orange(i);
  let base = (t / u.nin) * u.nout * u.inner + j;
  var acc = ${T}(0.0);
  for (var o = r.x; o < r.y; o = o + 1u) { acc = acc + wt(o, i) * g[base + o * u.inner]; }
  dx[idx] = acc;`;
  } else {
    body = `  if (idx >= u.outer * u.nout * u.inner) { return; }
  let j = idx % u.inner;
  let t = idx / u.inner;
  let l = lin(t % u.nout);
  let base = (t / u.nout) * u.nin * u.inner + j;
  y[idx] = x[base + l.i0 * u.inner] * (1.0 - l.l1) + x[base + l.i1 * u.inner] * l.l1;`;
  }
  k = {
    name,
    inputs: [{ name: src, type: T }],
    outputs: [{ name: dst, type: dstType }],
    uniforms,
    workgroupSize: 64,
    helpers: backward ? linHelper + rangeHelper : linHelper,
    body,
    // The forward only: float16 takes no part in autograd.
    halfStorage: !backward,
  };
  passKernels.set(key, k);
  return k;
}

/** Axis a (0 = D, 1 = H, 2 = W) of a [planes, d, h, w] volume as [outer, n, inner]. */
function axisView(planes: number, size: readonly number[], a: number): [number, number] {
  const outer = planes * size.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = size.slice(a + 1).reduce((p, d) => p * d, 1);
  return [outer, inner];
}

/** Runs the 1-D pass along axis a from src (spatial size `from`) into a new tensor of spatial size `to`. */
function pass(src: Tensor, n: number, c: number, from: readonly number[], to: readonly number[], a: number, plan: Plan, backward: boolean, dtype: DType): Tensor {
  const [outer, inner] = axisView(n * c, from, a);
  const [nin, nout] = backward ? [to[a]!, from[a]!] : [from[a]!, to[a]!];
  const layout: Layout = inner % 16 === 0 ? 'vec16' : inner % 4 === 0 ? 'vec4' : inner === 1 && to[a]! % 4 === 0 ? 'row' : 'scalar';
  const dst = empty([n, c, ...to], src.device, backward ? 'interpolate_trilinear_backward' : 'interpolate_trilinear', dtype);
  src.device.dispatch(passKernel(backward, layout), {
    inputs: [arg(src)],
    outputs: [arg(dst)],
    uniforms: { outer, nin, nout, inner: layout === 'vec4' || layout === 'vec16' ? inner / 4 : inner, scale: plan.scales[a]!, align: plan.align ? 1 : 0 },
    invocations: dst.size / (layout === 'scalar' ? 1 : layout === 'vec16' ? 16 : 4),
    label: `${fmt(src.shape)} -> ${fmt(dst.shape)} axis ${'DHW'[a]}${plan.align ? ' align_corners' : ''}`,
  });
  return dst;
}

/** Chains the passes; beyond one storage binding, on blocks of whole planes (each plane's resampling is independent). */
function run(x: Tensor, plan: Plan, backward: boolean): Tensor {
  const [n, c] = x.shape as [number, number];
  const from = backward ? plan.outSize : plan.inSize;
  const to = backward ? plan.inSize : plan.outSize;
  // No intermediate of the chain has a plane larger than this.
  const widest = from.reduce((p, d, i) => p * Math.max(d, to[i]!), 1);
  const m = bindingElems(x.device);
  if (n * c * widest <= m) return runBound(x, plan, backward);
  const y = empty([n, c, ...to], x.device, backward ? 'interpolate_trilinear_backward' : 'interpolate_trilinear', x.dtype);
  const [pin, pout] = [from, to].map((t) => t[0]! * t[1]! * t[2]!) as [number, number];
  for (const b of planeBlocks('interpolate', [n, c, widest], m, x.device)) {
    const xb = block(x, b.plane0 * pin, [b.n1 - b.n0, b.c1 - b.c0, ...from]);
    const part = runBound(xb, plan, backward);
    place(part, y, b.plane0 * pout);
    part.dispose();
    xb.dispose();
  }
  return y;
}

/** Chains the passes, freeing each intermediate; a copy when no axis changes. */
function runBound(x: Tensor, plan: Plan, backward: boolean): Tensor {
  const [n, c] = x.shape as [number, number];
  const axes = backward ? [0, 1, 2] : [2, 1, 0];
  const size = backward ? [...plan.outSize] : [...plan.inSize];
  const target = backward ? plan.inSize : plan.outSize;
  let cur = x;
  const moving = axes.filter((a) => plan.inSize[a] !== plan.outSize[a]);
  for (const a of moving) {
    const next = [...size];
    next[a] = target[a]!;
    // A float16 input is rounded once, at the last pass: the ones before it write f32.
    const out = pass(cur, n, c, size, next, a, plan, backward, a === moving[moving.length - 1] ? x.dtype : 'float32');
    if (cur !== x) cur.dispose();
    cur = out;
    size[a] = next[a];
  }
  if (cur !== x) return cur;
  const copy = empty(x.shape, x.device, 'interpolate_trilinear', x.dtype);
  copyElements(x, 0, copy, 0, x.size);
  return copy;
}

/** The gradient of interpolate with respect to its input, for an upstream gradient g (no autograd). */
export function interpolateBackward(g: Tensor, inShape: Shape, opts: InterpolateOptions): Tensor {
  return backwardWithPlan(g, inShape, interpolatePlan(inShape, opts));
}

function backwardWithPlan(g: Tensor, inShape: Shape, plan: Plan): Tensor {
  const want = [inShape[0]!, inShape[1]!, ...plan.outSize];
  if (g.rank !== 5 || g.shape.some((d, i) => d !== want[i])) {
    throw new ShapeError(`interpolate backward: gradient ${fmt(g.shape)} does not match the output ${fmt(want)} of input ${fmt(inShape)}`);
  }
  return run(g, plan, true);
}

/** Trilinear up- or down-sampling of a [N, C, D, H, W] tensor, like F.interpolate(mode='trilinear'). */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const plan = interpolatePlan(x.shape, opts);
  const y = run(x, plan, false);
  const xShape = x.shape;
  attachGrad('interpolate_trilinear', [x], [y], [], (g) => [backwardWithPlan(g[0]!, xShape, plan)]);
  return y;
}
