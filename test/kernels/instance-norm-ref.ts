/** The float64 instance-norm reference of the instance-norm suites (no Node APIs: the browser suite may bundle it). */

export interface Ref {
  y: Float64Array;
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
}

/** float64 instance norm and its gradients, straight from the definition. */
export function reference(x: ArrayLike<number>, shape: number[], w: ArrayLike<number> | null, b: ArrayLike<number> | null, g: ArrayLike<number>, eps: number): Ref {
  const [N, C] = shape as [number, number];
  const S = shape.slice(2).reduce((a, d) => a * d, 1);
  const y = new Float64Array(N * C * S);
  const dx = new Float64Array(N * C * S);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  const mean = new Float64Array(N * C);
  const variance = new Float64Array(N * C);
  for (let p = 0; p < N * C; p++) {
    const c = p % C;
    const o = p * S;
    let m = 0;
    for (let i = 0; i < S; i++) m += x[o + i]!;
    m /= S;
    let v = 0;
    for (let i = 0; i < S; i++) v += (x[o + i]! - m) ** 2;
    v /= S;
    mean[p] = m;
    variance[p] = v;
    const rstd = 1 / Math.sqrt(v + eps);
    const wc = w ? w[c]! : 1;
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < S; i++) {
      const xh = (x[o + i]! - m) * rstd;
      y[o + i] = xh * wc + (b ? b[c]! : 0);
      sg += g[o + i]!;
      sgx += g[o + i]! * xh;
    }
    db[c]! += sg;
    dw[c]! += sgx;
    for (let i = 0; i < S; i++) {
      const xh = (x[o + i]! - m) * rstd;
      dx[o + i] = wc * rstd * (g[o + i]! - sg / S - (xh * sgx) / S);
    }
  }
  return { y, dx, dw, db, mean, variance };
}

/**
 * relu?(instanceNorm(x) + r) and its gradients for the upstream g: the forward from the norm's
 * reference, the backward as the norm's for g masked where the output is positive; dr is
 * that masked g (the addition passes it on).
 */
export function fusedReference(
  x: ArrayLike<number>,
  shape: number[],
  w: ArrayLike<number> | null,
  b: ArrayLike<number> | null,
  r: ArrayLike<number> | null,
  relu: boolean,
  g: ArrayLike<number>,
  eps: number,
): Ref & { dr: Float64Array } {
  const pre = reference(x, shape, w, b, g, eps).y;
  const y = new Float64Array(pre.length);
  const gm = new Float64Array(pre.length);
  for (let i = 0; i < pre.length; i++) {
    const v = pre[i]! + (r ? r[i]! : 0);
    y[i] = relu && v < 0 ? 0 : v;
    gm[i] = relu && !(v > 0) ? 0 : g[i]!;
  }
  return { ...reference(x, shape, w, b, gm, eps), y, dr: gm };
}
