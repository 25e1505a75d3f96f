import { add, backward, INSTANCE_NORM_MOMENTS, instanceNorm3d, instanceNorm3dAdd, instanceNorm3dRelu, instanceNormStats, randn, relu, type Tensor } from '../../src/index.js';
import type { BenchCase, BenchContext } from '../types.js';

/**
 * Instance norm: the variants of its statistics' main pass (the tuner's candidates, each
 * forced), and the epilogues of the HNF-Net blocks, fused (one normalising pass that adds the
 * residual and applies the ReLU) against the same ops run one after another, at the size of
 * a stem block (32 channels at 64³; quick mode 32³). `bytes` is the ideal traffic of the
 * whole workload (forward: x, the residual and y once; backward: g, x, dx and the residual's
 * gradient once), the same for both rows of a pair, so their GB/s compare directly.
 */
const F32 = 4;
const voxels = (quick: boolean) => 32 * (quick ? 32 : 64) ** 3;

type Form = 'relu' | 'add-relu';
type Pass = 'fwd' | 'bwd';

/** The workload both ways; the unfused side is what the model ran before the fusion. */
function forward(form: Form, fused: boolean, x: Tensor, r: Tensor, w: Tensor, b: Tensor): Tensor {
  if (fused) return form === 'relu' ? instanceNorm3dRelu(x, w, b) : instanceNorm3dAdd(x, r, w, b, 1e-5, { relu: true });
  const n = instanceNorm3d(x, w, b);
  const s = form === 'relu' ? n : add(n, r);
  const y = relu(s);
  if (s !== n) s.dispose();
  n.dispose();
  return y;
}

function fusedCase(form: Form, pass: Pass, fused: boolean): BenchCase {
  let quick = false;
  // Reads and writes of the ideal implementation, in voxels of x.
  const passes = pass === 'fwd' ? (form === 'relu' ? 2 : 3) : form === 'relu' ? 3 : 4;
  return {
    get name() {
      return `instance norm${form === 'relu' ? '' : ' + residual'} + relu 32ch ${quick ? 32 : 64}³ ${pass}`;
    },
    impl: fused ? 'hnfnet fused' : 'hnfnet unfused',
    timing: 'gpu',
    get bytes() {
      return passes * voxels(quick) * F32;
    },
    async setup(ctx: BenchContext) {
      quick = ctx.quick;
      const n = quick ? 32 : 64;
      const grad = pass === 'bwd';
      const x = randn([1, 32, n, n, n], { seed: 1, requiresGrad: grad });
      const r = randn([1, 32, n, n, n], { seed: 2, requiresGrad: grad });
      const w = randn([32], { seed: 3, requiresGrad: grad });
      const b = randn([32], { seed: 4, requiresGrad: grad });
      const owned = [x, r, w, b];
      if (!grad) {
        return {
          run: () => forward(form, fused, x, r, w, b).dispose(),
          dispose: () => owned.forEach((t) => t.dispose()),
        };
      }
      // Recorded once; each run is the backward alone.
      const y = forward(form, fused, x, r, w, b);
      const g = randn(y.shape, { seed: 5 });
      return {
        run() {
          for (const t of owned) t.zeroGrad();
          backward(y, g, { retainGraph: true });
        },
        dispose() {
          for (const t of [...owned, y, g]) {
            t.zeroGrad();
            t.dispose();
          }
        },
      };
    },
  };
}

/** The statistics alone with one moments variant; bytes: one read of x (what the main pass reads). */
function statsCase(variant: string): BenchCase {
  let quick = false;
  return {
    get name() {
      return `instance norm statistics 32ch ${quick ? 32 : 64}³`;
    },
    impl: `hnfnet ${variant}`,
    timing: 'gpu',
    get bytes() {
      return voxels(quick) * F32;
    },
    async setup(ctx: BenchContext) {
      quick = ctx.quick;
      const n = quick ? 32 : 64;
      const v = INSTANCE_NORM_MOMENTS.find((m) => m.name === variant)!;
      const x = randn([1, 32, n, n, n], { seed: 6 });
      // A device without the variant's feature fails here, as a row with its error.
      instanceNormStats(x, 1e-5, v).dispose();
      return { run: () => instanceNormStats(x, 1e-5, v).dispose(), dispose: () => x.dispose() };
    },
  };
}

export const cases: BenchCase[] = [
  ...INSTANCE_NORM_MOMENTS.map((v) => statsCase(v.name)),
  ...(['relu', 'add-relu'] as const).flatMap((form) => (['fwd', 'bwd'] as const).flatMap((pass) => [fusedCase(form, pass, true), fusedCase(form, pass, false)])),
];
