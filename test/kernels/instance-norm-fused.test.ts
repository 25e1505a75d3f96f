/**
 * The fused instance-norm epilogues (norm → ReLU, norm → + residual, norm → + residual → ReLU)
 * against a float64 reference, against the unfused graph (forward and every gradient), and
 * against finite differences.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { add, backward, instanceNorm3d, instanceNorm3dAdd, instanceNorm3dRelu, relu, ShapeError, tensor, type Tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from './../helpers.js';
import { fusedReference, reference } from './instance-norm-ref.js';

type Form = 'relu' | 'add' | 'add-relu';

const fused = (form: Form, x: Tensor, r: Tensor | null, w: Tensor | null, b: Tensor | null, eps: number): Tensor =>
  form === 'relu' ? instanceNorm3dRelu(x, w, b, eps) : instanceNorm3dAdd(x, r!, w, b, eps, { relu: form === 'add-relu' });

/** The same function from the separate ops, which autograd differentiates op by op. */
function unfused(form: Form, x: Tensor, r: Tensor | null, w: Tensor | null, b: Tensor | null, eps: number): Tensor {
  const n = instanceNorm3d(x, w, b, eps);
  if (form === 'relu') {
    const y = relu(n);
    n.dispose();
    return y;
  }
  const s = add(n, r!);
  n.dispose();
  if (form === 'add') return s;
  const y = relu(s);
  s.dispose();
  return y;
}

interface Case {
  shape: number[];
  form: Form;
  weight?: boolean;
  bias?: boolean;
  seed: number;
}

/** Output and the gradients of x, weight, bias and residual (those that exist) for one upstream g. */
async function runOnce(c: Case, fn: typeof fused): Promise<Float32Array[]> {
  const C = c.shape[1]!;
  const n = c.shape.reduce((a, d) => a * d, 1);
  const x = tensor(randArray(n, c.seed, -2, 3), c.shape, { requiresGrad: true });
  const w = c.weight === false ? null : tensor(randArray(C, c.seed + 1, 0.5, 1.5), [C], { requiresGrad: true });
  const b = c.bias === false ? null : tensor(randArray(C, c.seed + 2), [C], { requiresGrad: true });
  const r = c.form === 'relu' ? null : tensor(randArray(n, c.seed + 3), c.shape, { requiresGrad: true });
  const y = fn(c.form, x, r, w, b, 1e-5);
  const out = [await y.data()];
  const g = tensor(randArray(n, c.seed + 4), c.shape);
  backward(y, g);
  for (const t of [x, w, b, r]) if (t) out.push(await t.grad!.data());
  for (const t of [x, w, b, r, y, g]) {
    t?.zeroGrad();
    t?.dispose();
  }
  return out;
}

const CASES: Case[] = [
  // Odd planes (scalar path), vec4 reductions with scalar per-voxel passes, and full vec4/16-voxel paths.
  { shape: [2, 3, 5, 6, 7], form: 'relu', seed: 1 },
  { shape: [2, 3, 5, 6, 7], form: 'add', seed: 2 },
  { shape: [2, 3, 5, 6, 7], form: 'add-relu', seed: 3 },
  { shape: [1, 2, 3, 2, 2], form: 'add-relu', weight: false, seed: 4 },
  { shape: [2, 3, 4, 4, 2], form: 'relu', bias: false, seed: 5 },
  { shape: [2, 3, 4, 4, 2], form: 'add-relu', weight: false, bias: false, seed: 6 },
  { shape: [1, 4, 8, 8, 8], form: 'add', seed: 7 },
  // One plane longer than a reduction chunk.
  { shape: [1, 1, 40, 33, 29], form: 'add-relu', seed: 8 },
];

beforeAll(async () => {
  await getDevice();
});

describe('fused instance-norm epilogues', () => {
  for (const c of CASES) {
    const what = `${c.form} ${JSON.stringify(c.shape)}${c.weight === false ? ' no weight' : ''}${c.bias === false ? ' no bias' : ''}`;

    it(`${what}: matches the float64 reference`, async () => {
      const [y, dx, ...rest] = await runOnce(c, fused);
      const C = c.shape[1]!;
      const n = y!.length;
      const xd = randArray(n, c.seed, -2, 3);
      const wd = c.weight === false ? null : randArray(C, c.seed + 1, 0.5, 1.5);
      const bd = c.bias === false ? null : randArray(C, c.seed + 2);
      const rd = c.form === 'relu' ? null : randArray(n, c.seed + 3);
      const ref = fusedReference(xd, c.shape, wd, bd, rd, c.form !== 'add', randArray(n, c.seed + 4), 1e-5);
      const tol = 2e-5;
      expectClose(y!, ref.y, tol, tol, 'y');
      expectClose(dx!, ref.dx, tol, tol, 'dx');
      let k = 0;
      if (wd) expectClose(rest[k++]!, ref.dw, tol, tol, 'dweight');
      if (bd) expectClose(rest[k++]!, ref.db, tol, tol, 'dbias');
      if (rd) expectClose(rest[k++]!, ref.dr, tol, tol, 'dresidual');
      expect(k).toBe(rest.length);
    });

    it(`${what}: equals the unfused ops in value and every gradient`, async () => {
      const got = await runOnce(c, fused);
      const want = await runOnce(c, unfused);
      expect(got.length).toBe(want.length);
      // The same arithmetic in the same order; only the reductions' partial sums may round differently.
      got.forEach((g, i) => expectClose(g, want[i]!, 1e-6, 1e-6, `output/gradient ${i}`));
    });
  }

/**
 * A residual moved so that no pre-activation lies within 0.3 of the ReLU's kink: a central
 * difference across the kink measures neither side's slope, and the residual shifts the
 * pre-activation without touching the norm's statistics.
 */
function residualAwayFromKink(x: Float32Array, shape: number[], w: Float32Array, b: Float32Array, r: Float32Array): Float32Array {
  const normed = reference(x, shape, w, b, new Float32Array(x.length), 1e-5).y;
  return r.map((v, i) => {
    const pre = normed[i]! + v;
    return Math.abs(pre) >= 0.3 ? v : v + (pre >= 0 ? 0.3 : -0.3);
  });
}

  it('agrees with finite differences (x, weight, bias, residual)', async () => {
    const shape = [2, 2, 3, 2, 3];
    const params = [
      { data: randArray(72, 8), shape },
      { data: randArray(2, 9, 0.5, 1.5), shape: [2] },
      { data: randArray(2, 10), shape: [2] },
    ];
    const opts = { eps: 1e-2, rtol: 3e-2, atol: 3e-3 };
    await gradCheck(([x, w, b]) => instanceNorm3dRelu(x!, w!, b!), params, opts);
    const r = residualAwayFromKink(params[0]!.data, shape, params[1]!.data, params[2]!.data, randArray(72, 11));
    const withResidual = [...params, { data: r, shape }];
    await gradCheck(([x, w, b, r]) => instanceNorm3dAdd(x!, r!, w!, b!), withResidual, opts);
    await gradCheck(([x, w, b, r]) => instanceNorm3dAdd(x!, r!, w!, b!, 1e-5, { relu: true }), withResidual, opts);
  });

  it('agrees with finite differences on the 16-voxel path', async () => {
    const shape = [2, 2, 2, 2, 4];
    const [x, w, b] = [randArray(64, 16), randArray(2, 17, 0.5, 1.5), randArray(2, 18)];
    await gradCheck(([x, w, b, r]) => instanceNorm3dAdd(x!, r!, w!, b!, 1e-5, { relu: true }), [
      { data: x, shape },
      { data: w, shape: [2] },
      { data: b, shape: [2] },
      { data: residualAwayFromKink(x, shape, w, b, randArray(64, 19)), shape },
    ]);
  });

  it('keeps a NaN through the ReLU, as relu does', async () => {
    const xd = randArray(16, 20);
    const x = tensor(xd, [1, 1, 2, 2, 4]);
    const rd = new Float32Array(16);
    rd[3] = NaN;
    const r = tensor(rd, [1, 1, 2, 2, 4]);
    const yt = instanceNorm3dAdd(x, r, null, null, 1e-5, { relu: true });
    const y = await yt.data();
    expect(Number.isNaN(y[3])).toBe(true);
    expect(y.filter((v) => Number.isNaN(v)).length).toBe(1);
    [x, r, yt].forEach((t) => t.dispose());
  });

  it('rejects a residual of another shape, naming both shapes', () => {
    const x = tensor(new Float32Array(24), [1, 3, 2, 2, 2]);
    const r = tensor(new Float32Array(8), [1, 1, 2, 2, 2]);
    expect(() => instanceNorm3dAdd(x, r)).toThrow(ShapeError);
    expect(() => instanceNorm3dAdd(x, r)).toThrow(/instanceNorm3dAdd: residual \[1, 1, 2, 2, 2\] should have the input's shape \[1, 3, 2, 2, 2\]/);
    expect(() => instanceNorm3dRelu(r.view([1, 2, 2, 2]))).toThrow(/instanceNorm3dRelu: expected a 5-D/);
    x.dispose();
    r.dispose();
  });
});
