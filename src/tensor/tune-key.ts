/**
 * The key a tuning result is stored under. Results transfer between shapes of one class
 * (every size rounded up to a power of two), so a model tunes a handful of keys instead of
 * one per window size; attributes that change the generated code (kernel size, stride,
 * padding, operand layout) stay exact, and so does the adapter: a result from one GPU says
 * nothing about another.
 */
export interface TuneKey {
  /** The operation, e.g. 'conv3d' or 'bmm'. */
  op: string;
  /** The variant family within it (one pass of an op), e.g. 'forward', 'dgrad', 'wgrad'. */
  family: string;
  /** Sizes, already rounded by `shapeClass`. */
  shape: readonly number[];
  /** Exact attributes, e.g. 'k3,3,3 s1,1,1 p1,1,1'. */
  attrs: string;
  /** The adapter's vendor, architecture, device and description (Device.adapterInfo). */
  adapter: string;
}

/** The smallest power of two ≥ n (0 stays 0): the size class of one dimension. */
export function roundPow2(n: number): number {
  if (n <= 1) return Math.max(0, n);
  return 2 ** Math.ceil(Math.log2(n));
}

export function shapeClass(dims: readonly number[]): number[] {
  return dims.map(roundPow2);
}

/** One string per key, the cache's index. */
export function keyString(k: TuneKey): string {
  return `${k.op}.${k.family} [${k.shape.join(',')}] ${k.attrs} @ ${k.adapter}`;
}
