import type { Tensor5D } from '@tensorflow/tfjs-core';
import type { BenchCase } from '../types.js';
import { loadTfjsWebGPU, tfjsSync } from '../peers/tfjs.js';
import { convModel } from '../peers/onnx-conv.js';
import { BWD, FWD, K, PAD, bwdName, fwdFlops, fwdName, keep, outEdge, values, type Workload } from '../conv3d-workloads.js';

/**
 * Peers for the conv3d workloads of bench/cases/conv3d.ts (same `name`s, so the table
 * pairs them with hnfnet's rows): onnxruntime-node on the CPU (forward only: it is an
 * inference runtime) and TF.js's WebGPU backend (forward, and backward through its
 * Conv3DBackpropInputV2 / Conv3DBackpropFilterV2 kernels). All are N=1, 3×3×3, padding 1.
 */

type TF = typeof import('@tensorflow/tfjs-core');

/** Keeps sums of cin·27 products near unit size whatever the channel count. */
const weightScale = (w: Workload): number => 1 / Math.sqrt(w.cin * K ** 3);

function onnxForward(w: Workload): BenchCase {
  return {
    name: fwdName(w),
    impl: 'onnxruntime-node',
    flops: fwdFlops(w),
    timing: 'host',
    async setup() {
      // Loaded here rather than at the top so that the native addon only starts when an
      // ORT row is selected.
      const ort = await import('onnxruntime-node');
      const inputShape = [1, w.cin, w.edge, w.edge, w.edge];
      const weightShape = [w.cout, w.cin, K, K, K];
      const model = convModel({
        inputShape,
        weightShape,
        weight: values(w.cout * w.cin * K ** 3, 11, weightScale(w)),
        bias: values(w.cout, 12, 0.1),
        strides: [w.stride, w.stride, w.stride],
        pads: [PAD, PAD, PAD],
      });
      const session = await ort.InferenceSession.create(model);
      const x = new ort.Tensor('float32', values(w.cin * w.edge ** 3, 13, 1), inputShape);
      return {
        async run() {
          await session.run({ X: x });
        },
        async dispose() {
          await session.release();
        },
      };
    },
  };
}

/**
 * TF.js's conv3d takes only 'same' or 'valid'. With k=3: for stride 1 'same' is padding 1
 * on every side; for stride 2 on an even edge it pads 0 before and 1 after (PyTorch pads
 * 1 and 1). The output shape, and so the work, is the same; only the border values differ.
 */
const TF_PAD = 'same';

function tfjsForward(w: Workload): BenchCase {
  return {
    name: fwdName(w),
    impl: 'tfjs-webgpu',
    flops: fwdFlops(w),
    timing: 'host',
    async setup() {
      const tf = await loadTfjsWebGPU();
      // TF.js is channels-last: NDHWC input, [kd, kh, kw, Cin, Cout] filter.
      const x = tf.tensor5d(values(w.cin * w.edge ** 3, 13, 1), [1, w.edge, w.edge, w.edge, w.cin]);
      const f = tf.tensor5d(values(K ** 3 * w.cin * w.cout, 11, weightScale(w)), [K, K, K, w.cin, w.cout]);
      await tfjsSync(tf);
      return {
        async run() {
          const y = tf.conv3d(x, f, w.stride, TF_PAD);
          await tfjsSync(tf);
          y.dispose();
        },
        dispose() {
          x.dispose();
          f.dispose();
        },
      };
    },
  };
}

/** dX and dW of one conv3d, given dY: the two kernels TF.js's own gradient of conv3d runs. */
export function tfjsConv3dGrads(
  tf: TF,
  x: Tensor5D,
  f: Tensor5D,
  dy: Tensor5D,
  stride: number,
): { dx: Tensor5D; dw: Tensor5D } {
  const dx = tf.conv3dTranspose(dy, f, x.shape, stride, TF_PAD);
  const dw = tf.engine().runKernel<Tensor5D>(
    tf.Conv3DBackpropFilterV2,
    { x, dy },
    { strides: stride, pad: TF_PAD, filterShape: f.shape },
  );
  return { dx, dw };
}

function tfjsBackward(w: Workload): BenchCase {
  return {
    name: bwdName(w),
    impl: 'tfjs-webgpu',
    flops: 2 * fwdFlops(w),
    timing: 'host',
    async setup() {
      const tf = await loadTfjsWebGPU();
      const o = outEdge(w);
      const x = tf.tensor5d(values(w.cin * w.edge ** 3, 13, 1), [1, w.edge, w.edge, w.edge, w.cin]);
      const f = tf.tensor5d(values(K ** 3 * w.cin * w.cout, 11, weightScale(w)), [K, K, K, w.cin, w.cout]);
      const dy = tf.tensor5d(values(w.cout * o ** 3, 14, 1), [1, o, o, o, w.cout]);
      await tfjsSync(tf);
      return {
        async run() {
          const { dx, dw } = tfjsConv3dGrads(tf, x, f, dy, w.stride);
          await tfjsSync(tf);
          dx.dispose();
          dw.dispose();
        },
        dispose() {
          x.dispose();
          f.dispose();
          dy.dispose();
        },
      };
    },
  };
}

export const cases: BenchCase[] = [
  ...FWD.filter(keep).flatMap((w) => [onnxForward(w), tfjsForward(w)]),
  // TF.js's backward at 64³ takes minutes per run on lavapipe; opt in with HNFNET_BENCH_SLOW_PEERS=1.
  ...BWD.filter(keep).filter((w) => w.edge === 32 || !!process.env.HNFNET_BENCH_SLOW_PEERS).map(tfjsBackward),
];
