/**
 * The conv3d workloads of the bench (3×3×3, padding 1, N = 1), shared by hnfnet's cases and
 * the peers' so that rows with the same name line up in the table. "bwd" is the input and
 * weight gradients of one convolution given dy, counted as 2× the forward FLOPs.
 */
export interface Workload {
  cin: number;
  cout: number;
  /** Input edge; the volume is edge³. */
  edge: number;
  stride: 1 | 2;
}

export const K = 3;
export const PAD = 1;

export const outEdge = (w: Workload): number => Math.floor((w.edge + 2 * PAD - K) / w.stride) + 1;
export const fwdFlops = (w: Workload): number => 2 * w.cin * w.cout * K ** 3 * outEdge(w) ** 3;
export const fwdName = (w: Workload): string => `conv3d fwd ${K}x${K}x${K} ${w.stride === 1 ? '' : `s${w.stride} `}${w.cin}->${w.cout} @${w.edge}^3`;
export const bwdName = (w: Workload): string => `conv3d bwd ${K}x${K}x${K} ${w.cin}->${w.cout} @${w.edge}^3`;

export const FWD: readonly Workload[] = [
  { cin: 32, cout: 32, edge: 32, stride: 1 },
  { cin: 32, cout: 32, edge: 64, stride: 1 },
  { cin: 4, cout: 32, edge: 64, stride: 1 },
  { cin: 64, cout: 128, edge: 32, stride: 2 },
];
export const BWD: readonly Workload[] = [
  { cin: 32, cout: 32, edge: 32, stride: 1 },
  { cin: 32, cout: 32, edge: 64, stride: 1 },
];

// The harness builds its case list before any setup sees ctx.quick, so quick mode is read
// from the command line, leaving the 64³ workloads out altogether.
const quick = process.argv.includes('--quick');
export const keep = (w: Workload): boolean => !quick || w.edge === 32;

/** Repeatable values in [-scale, scale) (a 32-bit LCG), identical for hnfnet and its peers. */
export function values(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}
