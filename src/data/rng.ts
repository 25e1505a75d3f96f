/**
 * A small seeded generator (xoshiro128**) that every random choice in the data pipeline draws from,
 * so a seed fixes crops, augmentations and epoch orders on any thread and in any JS engine.
 * Math.random cannot be seeded, and a shared global stream would make results depend on which
 * worker ran first; instead each sample derives its own stream from (seed, sample index).
 */
import { ArgumentError } from '../tensor/errors.js';

const TWO_POW_32 = 4294967296;

/** Murmur3's 32-bit finaliser: a bijective mixer, so distinct keys give distinct, well-spread words. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits a seed into 32-bit words; numbers up to 2^53 keep all their bits, strings are hashed (FNV-1a). */
function seedWords(seed: number | string): number[] {
  if (typeof seed === 'string') {
    let h = 0x811c9dc5;
    for (let i = 0; i < seed.length; i++) {
      h ^= seed.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return [h >>> 0, seed.length >>> 0];
  }
  if (!Number.isFinite(seed)) throw new ArgumentError(`Rng: seed must be finite, got ${seed}`);
  const n = Math.trunc(seed);
  const lo = n >>> 0;
  const hi = Math.floor(n / TWO_POW_32) >>> 0;
  return [lo, hi];
}

export type RngState = [number, number, number, number];

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** `keys` are extra words mixed into the seed: `new Rng(seed, epoch, index)` gives an independent stream per sample. */
  constructor(seed: number | string = 0, ...keys: number[]) {
    const words = seedWords(seed);
    for (const k of keys) words.push(...seedWords(k));
    let h = 0x9e3779b9;
    for (const w of words) h = fmix32(h ^ fmix32(w + 0x6a09e667));
    // Four distinct counters through the mixer fill the state; an all-zero state is impossible
    // because fmix32 is a bijection and the four inputs differ.
    this.s0 = fmix32(h + 0x243f6a88);
    this.s1 = fmix32(h + 0x85a308d3);
    this.s2 = fmix32(h + 0x13198a2e);
    this.s3 = fmix32(h + 0x03707344);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: Readonly<RngState>): Rng {
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.map((v) => v >>> 0) as RngState;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) throw new ArgumentError('Rng: an all-zero state is invalid');
    return r;
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** A double in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A double in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [lo, hi) (or [0, lo) when called with one argument). */
  int(lo: number, hi?: number): number {
    if (hi === undefined) {
      hi = lo;
      lo = 0;
    }
    if (!(hi > lo)) throw new ArgumentError(`Rng.int: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** Normally distributed (Box-Muller); no cached second value, so the state alone defines the stream. */
  normal(mean = 0, std = 1): number {
    const u = 1 - this.next(); // (0, 1], so log is finite
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. Draws even when p is 0 or 1, so toggling a probability does not shift later draws. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new ArgumentError('Rng.pick: no items');
    return items[this.int(items.length)]!;
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
