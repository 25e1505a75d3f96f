import { empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef, UniformValues } from '../tensor/kernel.js';
import { arg } from './util.js';
import { describe, outShape, type ConvGeometry } from './conv3d-geometry.js';

/**
 * The plain kernels: one output element per invocation, every loop bound and index in
 * uniforms, no tiling. They are the reference the fast kernels are tested against and
 * the `variant: 'direct'` path; they handle every shape, stride and padding.
 */

const geometryUniforms = ['n', 'ci', 'co', 'd', 'h', 'w', 'kd', 'kh', 'kw', 'sd', 'sh', 'sw', 'pd', 'ph', 'pw', 'od', 'oh', 'ow', 'total'].map(
  (name) => ({ name, type: 'i32' as const }),
);

/** The convolution's shape as the conv3d kernels' uniforms (sizes, kernel, stride, padding, output). */
export function convShapeUniforms(g: ConvGeometry): UniformValues {
  return {
    ci: g.ci,
    co: g.co,
    d: g.in[0],
    h: g.in[1],
    w: g.in[2],
    kd: g.k[0],
    kh: g.k[1],
    kw: g.k[2],
    sd: g.stride[0],
    sh: g.stride[1],
    sw: g.stride[2],
    pd: g.pad[0],
    ph: g.pad[1],
    pw: g.pad[2],
    od: g.out[0],
    oh: g.out[1],
    ow: g.out[2],
  };
}

export function geometryValues(g: ConvGeometry, total: number): UniformValues {
  return { n: g.n, ...convShapeUniforms(g), total };
}

const forwardBody = (bias: boolean) => `  let i = i32(idx);
  if (i >= u.total) { return; }
  let ox = i % u.ow;
  let oy = (i / u.ow) % u.oh;
  let oz = (i / (u.ow * u.oh)) % u.od;
  let c = (i / (u.ow * u.oh * u.od)) % u.co;
  let b = i / (u.ow * u.oh * u.od * u.co);
  var acc = ${bias ? 'bias[c]' : '0.0'};
  for (var ic = 0; ic < u.ci; ic++) {
    for (var a = 0; a < u.kd; a++) {
      let z = oz * u.sd - u.pd + a;
      if (z < 0 || z >= u.d) { continue; }
      for (var e = 0; e < u.kh; e++) {
        let y = oy * u.sh - u.ph + e;
        if (y < 0 || y >= u.h) { continue; }
        for (var f = 0; f < u.kw; f++) {
          let x = ox * u.sw - u.pw + f;
          if (x < 0 || x >= u.w) { continue; }
          acc += xs[(((b * u.ci + ic) * u.d + z) * u.h + y) * u.w + x] * wt[(((c * u.ci + ic) * u.kd + a) * u.kh + e) * u.kw + f];
        }
      }
    }
  }
  ys[i] = acc;`;

const forwardKernels = [false, true].map(
  (bias): KernelDef => ({
    name: bias ? 'conv3d_direct_bias' : 'conv3d_direct',
    inputs: bias ? ['xs', 'wt', 'bias'] : ['xs', 'wt'],
    outputs: ['ys'],
    uniforms: geometryUniforms,
    workgroupSize: 64,
    body: forwardBody(bias),
    halfStorage: true,
  }),
);

/** dx: each input element gathers the outputs its value reached (the transposed convolution). */
const inputGradKernel: KernelDef = {
  name: 'conv3d_direct_dgrad',
  inputs: ['gy', 'wt'],
  outputs: ['gx'],
  uniforms: geometryUniforms,
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.total) { return; }
  let x = i % u.w;
  let y = (i / u.w) % u.h;
  let z = (i / (u.w * u.h)) % u.d;
  let ic = (i / (u.w * u.h * u.d)) % u.ci;
  let b = i / (u.w * u.h * u.d * u.ci);
  var acc = 0.0;
  for (var c = 0; c < u.co; c++) {
    for (var a = 0; a < u.kd; a++) {
      let tz = z + u.pd - a;
      if (tz < 0 || tz % u.sd != 0 || tz / u.sd >= u.od) { continue; }
      for (var e = 0; e < u.kh; e++) {
        let ty = y + u.ph - e;
        if (ty < 0 || ty % u.sh != 0 || ty / u.sh >= u.oh) { continue; }
        for (var f = 0; f < u.kw; f++) {
          let tx = x + u.pw - f;
          if (tx < 0 || tx % u.sw != 0 || tx / u.sw >= u.ow) { continue; }
          acc += gy[(((b * u.co + c) * u.od + tz / u.sd) * u.oh + ty / u.sh) * u.ow + tx / u.sw] *
            wt[(((c * u.ci + ic) * u.kd + a) * u.kh + e) * u.kw + f];
        }
      }
    }
  }
  gx[i] = acc;`,
};

/** dw: each weight element sums its products over the batch and every output voxel. */
const weightGradKernel: KernelDef = {
  name: 'conv3d_direct_wgrad',
  inputs: ['xs', 'gy'],
  outputs: ['gw'],
  uniforms: geometryUniforms,
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.total) { return; }
  let f = i % u.kw;
  let e = (i / u.kw) % u.kh;
  let a = (i / (u.kw * u.kh)) % u.kd;
  let ic = (i / (u.kw * u.kh * u.kd)) % u.ci;
  let c = i / (u.kw * u.kh * u.kd * u.ci);
  var acc = 0.0;
  for (var b = 0; b < u.n; b++) {
    for (var oz = 0; oz < u.od; oz++) {
      let z = oz * u.sd - u.pd + a;
      if (z < 0 || z >= u.d) { continue; }
      for (var oy = 0; oy < u.oh; oy++) {
        let y = oy * u.sh - u.ph + e;
        if (y < 0 || y >= u.h) { continue; }
        for (var ox = 0; ox < u.ow; ox++) {
          let x = ox * u.sw - u.pw + f;
          if (x < 0 || x >= u.w) { continue; }
          acc += xs[(((b * u.ci + ic) * u.d + z) * u.h + y) * u.w + x] * gy[(((b * u.co + c) * u.od + oz) * u.oh + oy) * u.ow + ox];
        }
      }
    }
  }
  gw[i] = acc;`,
};

/** All direct kernels (for warm-up). */
export const directKernels = (): KernelDef[] => [...forwardKernels, inputGradKernel, weightGradKernel];

export function directForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const y = empty(outShape(g), x.device, 'conv3d', g.dtype);
  const def = forwardKernels[bias ? 1 : 0]!;
  x.device.dispatch(def, {
    inputs: bias ? [arg(x), arg(weight), arg(bias)] : [arg(x), arg(weight)],
    outputs: [arg(y)],
    uniforms: geometryValues(g, y.size),
    invocations: y.size,
    label: describe(g),
  });
  return y;
}

export function directInputGrad(gy: Tensor, weight: Tensor, g: ConvGeometry): Tensor {
  const gx = empty([g.n, g.ci, ...g.in], gy.device, 'conv3d_dgrad');
  gy.device.dispatch(inputGradKernel, {
    inputs: [arg(gy), arg(weight)],
    outputs: [arg(gx)],
    uniforms: geometryValues(g, gx.size),
    invocations: gx.size,
    label: describe(g),
  });
  return gx;
}

export function directWeightGrad(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor {
  const gw = empty([g.co, g.ci, ...g.k], x.device, 'conv3d_wgrad');
  x.device.dispatch(weightGradKernel, {
    inputs: [arg(x), arg(gy)],
    outputs: [arg(gw)],
    uniforms: geometryValues(g, gw.size),
    invocations: gw.size,
    label: describe(g),
  });
  return gw;
}
