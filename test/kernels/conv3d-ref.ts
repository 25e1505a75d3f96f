/**
 * Plain TypeScript conv3d (PyTorch semantics) and its gradients, in float64 arithmetic:
 * the host reference the GPU kernels are tested against.
 */
export interface RefConv {
  x: Float32Array;
  xShape: readonly number[];
  w: Float32Array;
  wShape: readonly number[];
  b: Float32Array | null;
  stride: readonly [number, number, number];
  pad: readonly [number, number, number];
}

export function refOutShape(c: RefConv): number[] {
  const [n, , d, h, w] = c.xShape as [number, number, number, number, number];
  const [co, , kd, kh, kw] = c.wShape as [number, number, number, number, number];
  const o = (s: number, k: number, i: number) => Math.floor((s + 2 * c.pad[i]! - k) / c.stride[i]!) + 1;
  return [n, co, o(d, kd, 0), o(h, kh, 1), o(w, kw, 2)];
}

/** Calls fn(n, co, ci, od, oh, ow, xIndex, wIndex) for every product the convolution forms. */
function forEachTerm(c: RefConv, fn: (yIndex: number, xIndex: number, wIndex: number, co: number) => void): void {
  const [n, ci, d, h, w] = c.xShape as [number, number, number, number, number];
  const [co, , kd, kh, kw] = c.wShape as [number, number, number, number, number];
  const [, , od, oh, ow] = refOutShape(c) as [number, number, number, number, number];
  const [sd, sh, sw] = c.stride;
  const [pd, ph, pw] = c.pad;
  for (let b = 0; b < n; b++)
    for (let o = 0; o < co; o++)
      for (let z = 0; z < od; z++)
        for (let y = 0; y < oh; y++)
          for (let x = 0; x < ow; x++) {
            const yi = (((b * co + o) * od + z) * oh + y) * ow + x;
            for (let i = 0; i < ci; i++)
              for (let a = 0; a < kd; a++) {
                const iz = z * sd - pd + a;
                if (iz < 0 || iz >= d) continue;
                for (let e = 0; e < kh; e++) {
                  const iy = y * sh - ph + e;
                  if (iy < 0 || iy >= h) continue;
                  for (let f = 0; f < kw; f++) {
                    const ix = x * sw - pw + f;
                    if (ix < 0 || ix >= w) continue;
                    fn(yi, (((b * ci + i) * d + iz) * h + iy) * w + ix, (((o * ci + i) * kd + a) * kh + e) * kw + f, o);
                  }
                }
              }
          }
}

export function refConv3d(c: RefConv): Float32Array {
  const shape = refOutShape(c);
  const acc = new Float64Array(shape.reduce((a, b) => a * b, 1));
  forEachTerm(c, (yi, xi, wi) => {
    acc[yi]! += c.x[xi]! * c.w[wi]!;
  });
  if (c.b) {
    const [, co, od, oh, ow] = shape as [number, number, number, number, number];
    const vox = od * oh * ow;
    for (let i = 0; i < acc.length; i++) acc[i]! += c.b[Math.floor(i / vox) % co]!;
  }
  return Float32Array.from(acc);
}

/** Gradients of Σ y·gy with respect to x, w and b. */
export function refConv3dGrads(c: RefConv, gy: Float32Array): { gx: Float32Array; gw: Float32Array; gb: Float32Array } {
  const gx = new Float64Array(c.x.length);
  const gw = new Float64Array(c.w.length);
  const co = c.wShape[0]!;
  const gb = new Float64Array(co);
  forEachTerm(c, (yi, xi, wi) => {
    gx[xi]! += gy[yi]! * c.w[wi]!;
    gw[wi]! += gy[yi]! * c.x[xi]!;
  });
  const [, , od, oh, ow] = refOutShape(c) as [number, number, number, number, number];
  const vox = od * oh * ow;
  for (let i = 0; i < gy.length; i++) gb[Math.floor(i / vox) % co]! += gy[i]!;
  return { gx: Float32Array.from(gx), gw: Float32Array.from(gw), gb: Float32Array.from(gb) };
}
