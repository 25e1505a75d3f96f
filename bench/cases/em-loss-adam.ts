import {
  adamStep,
  AdamState,
  add,
  backward,
  bceWithLogits,
  emAttention,
  full,
  generalizedDiceLoss,
  tensor,
  tidy,
  Generator,
  type Tensor,
} from '../../src/index.js';
import type { BenchCase, BenchContext } from '../types.js';

/** Unit-norm bases [1, C, K], as EMANet keeps them. */
function bases(C: number, K: number, g: Generator): Float32Array {
  const mu = new Float32Array(C * K);
  for (let i = 0; i < mu.length; i++) mu[i] = g.normal() * Math.sqrt(2 / K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += mu[c * K + k]! ** 2;
    for (let c = 0; c < C; c++) mu[c * K + k]! /= 1e-6 + Math.sqrt(s);
  }
  return mu;
}

function normals(n: number, g: Generator): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = g.normal();
  return a;
}

const EM = { C: 64, K: 64, T: 3 };

function emCase(side: number): BenchCase {
  const V = side ** 3;
  const { C, K, T } = EM;
  return {
    name: `em_attention C${C} K${K} T${T} ${side}³`,
    impl: 'hnfnet',
    // Matrix-product work: each E-step (Xᵀ·mu) and M-step (X·Zn) is 2·V·C·K, and so is the reconstruction.
    flops: (2 * T + 1) * 2 * V * C * K,
    timing: 'gpu',
    async setup(ctx: BenchContext) {
      const g = new Generator(1);
      const device = ctx.device;
      const x = tensor(normals(C * V, g), [1, C, side, side, side], { device });
      const mu = tensor(bases(C, K, g), [1, C, K], { device });
      return {
        run() {
          const r = emAttention(x, mu, { stages: T });
          r.y.dispose();
          r.mu.dispose();
        },
        dispose() {
          x.dispose();
          mu.dispose();
        },
      };
    },
  };
}

/**
 * The training loss: BCE(logits) + generalized Dice(sigmoid(logits)) with the sigmoid
 * fused into the Dice passes, forward and backward to the logits. Bytes are the full-size
 * arrays the passes move: BCE partial sums 2, Dice partial sums 2, Dice backward 3, BCE
 * backward 3, the two gradients summed at the logits 3 — 13 floats per voxel.
 */
function lossCase(shape: number[]): BenchCase {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name: `dice+bce fwd+bwd [${shape.join(',')}]`,
    impl: 'hnfnet',
    bytes: 13 * 4 * n,
    timing: 'gpu',
    async setup(ctx: BenchContext) {
      const g = new Generator(2);
      const device = ctx.device;
      const logits = tensor(normals(n, g), shape, { device, requiresGrad: true });
      const t = new Float32Array(n);
      for (let i = 0; i < n; i++) t[i] = g.uniform() < 0.2 ? 1 : 0;
      const target = tensor(t, shape, { device });
      return {
        run() {
          tidy(() => {
            const loss = add(bceWithLogits(logits, target), generalizedDiceLoss(logits, target, { sigmoid: true }));
            backward(loss);
          });
          logits.zeroGrad();
        },
        dispose() {
          logits.dispose();
          target.dispose();
        },
      };
    },
  };
}

/**
 * Parameter shapes shaped like HNF-Netv2's: 3³ convolutions at widths 32–256, each with a
 * norm's weight and bias (17.9 M parameters in 126 tensors; quick: 4.0 M in 30).
 */
function paramShapes(quick: boolean): number[][] {
  const convs: [number, number][] = quick
    ? [
        [256, 1],
        [128, 4],
        [64, 4],
        [32, 6],
      ]
    : [
        [256, 6],
        [128, 12],
        [64, 16],
        [32, 8],
      ];
  const shapes: number[][] = [];
  for (const [w, count] of convs) {
    for (let i = 0; i < count; i++) shapes.push([w, w, 3, 3, 3], [w], [w]);
  }
  return shapes;
}

function adamCase(quick: boolean): BenchCase {
  const shapes = paramShapes(quick);
  const total = shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  return {
    name: `adam ${(total / 1e6).toFixed(1)}M params in ${shapes.length} tensors`,
    impl: 'hnfnet',
    // Per parameter: read p, g, m, v; write p, m, v.
    bytes: 7 * 4 * total,
    timing: 'gpu',
    async setup(ctx: BenchContext) {
      const device = ctx.device;
      const params = shapes.map((s) => full(s, 0.01, { device, requiresGrad: true }));
      const grads = shapes.map((s) => full(s, 1e-3, { device }));
      const state = new AdamState();
      const opts = { lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 1e-5 };
      return {
        run() {
          adamStep(params, grads, state, opts);
        },
        dispose() {
          state.dispose();
          for (const t of [...params, ...grads] as Tensor[]) t.dispose();
        },
      };
    },
  };
}

/**
 * A case that runs `full`, or `quick` when ctx.quick is set. Name, flops and bytes follow
 * the variant the last setup chose (the harness reads them after setup), so the table's
 * rates are those of the workload actually run.
 */
function sized(full: BenchCase, quick: BenchCase): BenchCase {
  let active = full;
  return {
    get name() {
      return active.name;
    },
    impl: full.impl,
    timing: full.timing,
    get flops() {
      return active.flops;
    },
    get bytes() {
      return active.bytes;
    },
    setup(ctx: BenchContext) {
      active = ctx.quick ? quick : full;
      return active.setup(ctx);
    },
  };
}

export const cases: BenchCase[] = [
  sized(emCase(32), emCase(16)),
  sized(lossCase([4, 3, 64, 64, 64]), lossCase([2, 3, 32, 32, 32])),
  sized(adamCase(false), adamCase(true)),
];
