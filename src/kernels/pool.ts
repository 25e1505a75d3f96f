import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg } from './util.js';
import { bindingElems } from '../tensor/chunks.js';
import { block, planeBlocks, writeRange } from './split.js';

/**
 * Chunks per plane for reductions over the voxels of each (n, c) plane: enough invocations
 * in all (planes · chunks ≈ 16K) to fill a GPU or lavapipe's lanes, each still adding at
 * least 64 values, and at most 1024 chunks so the pass that merges them stays short.
 */
export function planeChunks(planes: number, voxels: number): number {
  if (planes === 0 || voxels === 0) return 1;
  return Math.max(1, Math.min(1024, Math.ceil(16384 / planes), Math.floor(voxels / 64)));
}

/**
 * Sums of x viewed as [planes, r] over r, in `chunks` strided partial sums per plane:
 * invocation (p, c) adds elements c, c + chunks, ... so adjacent invocations read adjacent
 * addresses. Scaled by `scale` (1/voxels on the last pass gives the mean). The vec4 form
 * reads 4 voxels a load (r counts vec4s), which on lavapipe, where each storage access is a
 * bounds-checked per-lane operation, is several times faster.
 */
function planeSumKernel(vec: boolean): KernelDef {
  const T = vec ? 'vec4<f32>' : 'f32';
  return {
    halfStorage: true,
    name: `plane_sum${vec ? '_vec4' : ''}`,
    inputs: [{ name: 'x', type: T }],
    outputs: ['y'],
    uniforms: [
      { name: 'planes', type: 'u32' },
      { name: 'r', type: 'u32' },
      { name: 'chunks', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ],
    workgroupSize: 64,
    body: `  if (idx >= u.planes * u.chunks) { return; }
  let p = idx / u.chunks;
  let c = idx % u.chunks;
  let base = p * u.r;
  var acc = ${T}(0.0);
  for (var i = c; i < u.r; i = i + u.chunks) { acc = acc + x[base + i]; }
  y[idx] = ${vec ? '((acc.x + acc.y) + (acc.z + acc.w))' : 'acc'} * u.scale;`,
  };
}

const planeSum = [planeSumKernel(false), planeSumKernel(true)] as const;

/** dx = g/S spread over each plane; 16 voxels (4 vec4s) an invocation when S allows. */
function gapBackwardKernel(vec: boolean): KernelDef {
  return {
    name: `global_avg_pool3d_backward${vec ? '_vec4' : ''}`,
    inputs: ['g'],
    outputs: [{ name: 'dx', type: vec ? 'vec4<f32>' : 'f32' }],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 's', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ],
    workgroupSize: 64,
    body: vec
      ? `  if (idx >= u.n / 16u) { return; }
  let v = vec4<f32>(g[(16u * idx) / u.s] * u.scale);
  for (var j = 0u; j < 4u; j = j + 1u) { dx[4u * idx + j] = v; }`
      : `  if (idx >= u.n) { return; }\n  dx[idx] = g[idx / u.s] * u.scale;`,
  };
}

const gapBackward = [gapBackwardKernel(false), gapBackwardKernel(true)] as const;

/** Blocks [p0, p1) of whole planes of [planes, voxels], each within one binding. */
function planeRanges(op: string, planes: number, voxels: number, device: Tensor['device']): [number, number][] {
  return planeBlocks(op, [1, planes, voxels], bindingElems(device), device).map((b) => [b.c0, b.c1]);
}

/** Mean over the last axis of x viewed as [planes, voxels], into `out` ([planes] values; no autograd). */
export function planeMean(x: Tensor, planes: number, voxels: number, out: Tensor): void {
  if (x.size <= bindingElems(x.device)) return planeMeanBound(x, planes, voxels, out);
  for (const [p0, p1] of planeRanges(`global_avg_pool3d of ${fmt(x.shape)}`, planes, voxels, x.device)) {
    const xb = block(x, p0 * voxels, [(p1 - p0) * voxels]);
    writeRange(out, p0, [p1 - p0], (ob) => planeMeanBound(xb, p1 - p0, voxels, ob));
    xb.dispose();
  }
}

function planeMeanBound(x: Tensor, planes: number, voxels: number, out: Tensor): void {
  const vec = voxels % 4 === 0;
  const r = vec ? voxels / 4 : voxels;
  const chunks = planeChunks(planes, r);
  const label = `[${planes}, ${voxels}]`;
  const first = planeSum[vec ? 1 : 0];
  if (chunks === 1) {
    x.device.dispatch(first, { inputs: [arg(x)], outputs: [arg(out)], uniforms: { planes, r, chunks: 1, scale: 1 / voxels }, invocations: planes, label });
    return;
  }
  const part = empty([planes, chunks], x.device, 'global_avg_pool3d');
  x.device.dispatch(first, { inputs: [arg(x)], outputs: [arg(part)], uniforms: { planes, r, chunks, scale: 1 }, invocations: planes * chunks, label });
  x.device.dispatch(planeSum[0], { inputs: [arg(part)], outputs: [arg(out)], uniforms: { planes, r: chunks, chunks: 1, scale: 1 / voxels }, invocations: planes, label });
  part.dispose();
}

/**
 * Global average pooling of [N, C, D, H, W] to [N, C, 1, 1, 1] (the squeeze of the SDE
 * blocks). The backward spreads g/(D·H·W) over each plane.
 */
export function globalAvgPool3d(x: Tensor): Tensor {
  if (x.rank !== 5) throw new ShapeError(`globalAvgPool3d: expected a 5-D [N, C, D, H, W] input, got ${fmt(x.shape)}`);
  const [n, c, d, h, w] = x.shape as [number, number, number, number, number];
  const voxels = d * h * w;
  if (voxels === 0 && n * c > 0) throw new ShapeError(`globalAvgPool3d: input ${fmt(x.shape)} has no voxels to average`);
  const y = empty([n, c, 1, 1, 1], x.device, 'global_avg_pool3d', x.dtype);
  if (y.size > 0) planeMean(x, n * c, voxels, y);
  const xShape = x.shape;
  attachGrad('global_avg_pool3d', [x], [y], [], (g) => {
    const dx = empty(xShape, g[0]!.device, 'global_avg_pool3d_backward');
    const spread = (gb: Tensor, dxb: Tensor): void => {
      const vec = voxels % 16 === 0;
      gb.device.dispatch(gapBackward[vec ? 1 : 0], {
        inputs: [arg(gb)],
        outputs: [arg(dxb)],
        uniforms: { n: dxb.size, s: voxels, scale: 1 / voxels },
        invocations: vec ? dxb.size / 16 : dxb.size,
        label: fmt(xShape),
      });
    };
    if (dx.size <= bindingElems(dx.device)) spread(g[0]!, dx);
    else {
      for (const [p0, p1] of planeRanges(`global_avg_pool3d backward of ${fmt(xShape)}`, n * c, voxels, dx.device)) {
        const gb = block(g[0]!, p0, [p1 - p0]);
        writeRange(dx, p0 * voxels, [(p1 - p0) * voxels], (dxb) => spread(gb, dxb));
        gb.dispose();
      }
    }
    return [dx];
  });
  return y;
}
