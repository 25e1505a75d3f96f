/**
 * Training batches: which case each sample uses, where it is cropped, how it is augmented, and the
 * batch tensors. Everything a sample holds is a pure function of (seed, global sample index) and
 * the case data, so the same-thread loader here and the worker loader in loader.node.ts produce
 * identical batches, whatever the number of workers or the order in which they finish.
 *
 * Sample g (g = step·B + b) belongs to epoch ⌊g / n⌋ and uses case perm_epoch[g mod n], where
 * perm_epoch is a seeded shuffle of the n cases; its crop and augmentation draw from
 * Rng(seed, g). Batches therefore run across epoch boundaries without a short last batch.
 *
 * Batch layout: images [B, C, D, H, W] and regions [B, 3, D, H, W] (WT, TC, ET), row-major
 * float32, with D = Z, H = Y, W = X of the patch (see volume.ts).
 */
import { DEFAULT_AUGMENT, extractPatch, identityAugment, sampleAugment, type AugmentConfig, type AugmentParams } from './augment.js';
import { randomBox, type Box3 } from './crop.js';
import { generatePhantom, type PhantomOptions } from './phantom.js';
import { preprocessCase, type PreprocessOptions, type PreprocessedCase } from './preprocess.js';
import { labelsToRegions } from './regions.js';
import { Rng } from './rng.js';
import type { Dims3 } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

export interface CaseProvider {
  readonly count: number;
  get(index: number): Promise<PreprocessedCase>;
}

export interface LoaderConfig {
  batchSize: number;
  /** Patch size [x, y, z]; default 128³. */
  patchSize: Dims3;
  /** Share of patches centred on a tumour voxel (class chosen uniformly among NCR, ED, ET); default 1/3. */
  foregroundProb: number;
  /** null disables augmentation. */
  augment: AugmentConfig | null;
  seed: number;
  /** Shuffle the cases each epoch; default true. */
  shuffle: boolean;
}

export const DEFAULT_LOADER: Readonly<LoaderConfig> = {
  batchSize: 4,
  patchSize: [128, 128, 128],
  foregroundProb: 1 / 3,
  augment: DEFAULT_AUGMENT,
  seed: 0,
  shuffle: true,
};

export function loaderConfig(overrides: Partial<LoaderConfig> = {}): LoaderConfig {
  const c = { ...DEFAULT_LOADER, ...overrides };
  if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) throw new ArgumentError(`loader: batchSize ${c.batchSize} must be a positive integer`);
  if (!c.patchSize.every((s) => Number.isInteger(s) && s >= 1)) throw new ArgumentError(`loader: patchSize ${c.patchSize.join('×')} must be positive integers`);
  return c;
}

export interface Batch {
  step: number;
  /** [B, C, D, H, W]. */
  shape: [number, number, number, number, number];
  images: Float32Array;
  /** `[B, 3, D, H, W]`: WT, TC, ET masks (0/1). */
  regions: Float32Array;
  caseIds: string[];
  caseIndices: number[];
  /** Each patch's box in its case's brain-cropped volume. */
  boxes: Box3[];
  augment: AugmentParams[];
}

/** Loaders, same-thread or worker-backed, deliver batches in step order. */
export interface BatchLoader {
  readonly config: LoaderConfig;
  readonly caseCount: number;
  /** ⌈cases / batchSize⌉. */
  readonly stepsPerEpoch: number;
  /** The next batch in order (step 0, 1, 2, …). */
  next(): Promise<Batch>;
  close(): Promise<void>;
}

const ORDER_TAG = 0x0bde;
const SAMPLE_TAG = 0x5a4e;

/** Which case sample g uses. */
export class SampleOrder {
  private epoch = -1;
  private perm: number[] = [];
  constructor(
    private readonly count: number,
    private readonly seed: number,
    private readonly shuffle: boolean,
  ) {
    if (!(count >= 1)) throw new ArgumentError('loader: the data set has no cases');
  }

  caseOf(g: number): number {
    const e = Math.floor(g / this.count);
    if (e !== this.epoch) {
      this.epoch = e;
      this.perm = this.shuffle ? new Rng(this.seed, ORDER_TAG, e).permutation(this.count) : Array.from({ length: this.count }, (_, i) => i);
    }
    return this.perm[g % this.count]!;
  }
}

/** Builds one batch; the deterministic core shared by every loader. */
export async function buildBatch(provider: CaseProvider, config: LoaderConfig, step: number, order = new SampleOrder(provider.count, config.seed, config.shuffle)): Promise<Batch> {
  const B = config.batchSize;
  const [sx, sy, sz] = config.patchSize;
  const P = sx * sy * sz;
  let C = 0;
  let images: Float32Array | null = null;
  const regions = new Float32Array(B * 3 * P);
  const labelBuf = new Uint8Array(P);
  const caseIds: string[] = [];
  const caseIndices: number[] = [];
  const boxes: Box3[] = [];
  const augment: AugmentParams[] = [];
  for (let b = 0; b < B; b++) {
    const g = step * B + b;
    const ci = order.caseOf(g);
    const pc = await provider.get(ci);
    if (images === null) {
      C = pc.channels;
      images = new Float32Array(B * C * P);
    } else if (pc.channels !== C) throw new ArgumentError(`loader: case ${pc.id} has ${pc.channels} channels, earlier cases ${C}`);
    const rng = new Rng(config.seed, SAMPLE_TAG, g);
    const box = randomBox(pc.dims, config.patchSize, rng, { foreground: pc.foreground, foregroundProb: config.foregroundProb });
    const params = config.augment ? sampleAugment(rng, config.augment, C) : identityAugment(C);
    extractPatch({ images: pc.images, channels: C, dims: pc.dims, mask: pc.mask, labels: pc.labels }, box, params, { images, imageOffset: b * C * P, labels: labelBuf });
    if (pc.labels) labelsToRegions(labelBuf, regions, b * 3 * P);
    caseIds.push(pc.id);
    caseIndices.push(ci);
    boxes.push(box);
    augment.push(params);
  }
  return { step, shape: [B, C, sz, sy, sx], images: images!, regions, caseIds, caseIndices, boxes, augment };
}

/**
 * The same-thread loader, for browsers and for Node without workers: builds each batch when asked.
 * It cannot overlap with the caller's work (JS has one thread here), so it keeps no queue.
 */
export class SameThreadLoader implements BatchLoader {
  readonly config: LoaderConfig;
  readonly stepsPerEpoch: number;
  private step: number;
  private readonly order: SampleOrder;

  constructor(
    private readonly provider: CaseProvider,
    config: Partial<LoaderConfig> = {},
    startStep = 0,
  ) {
    this.config = loaderConfig(config);
    this.stepsPerEpoch = Math.ceil(provider.count / this.config.batchSize);
    this.order = new SampleOrder(provider.count, this.config.seed, this.config.shuffle);
    this.step = startStep;
  }

  get caseCount(): number {
    return this.provider.count;
  }

  next(): Promise<Batch> {
    return buildBatch(this.provider, this.config, this.step++, this.order);
  }

  /** Any step, out of order (e.g. to resume). */
  batch(step: number): Promise<Batch> {
    return buildBatch(this.provider, this.config, step, this.order);
  }

  async close(): Promise<void> {}
}

/** Keeps the last few values; preprocessed BraTS cases are ~50 MB each, so only a handful stay. */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
}

/** Cases from a list already in memory. */
export class InMemoryProvider implements CaseProvider {
  constructor(private readonly cases: readonly PreprocessedCase[]) {}
  get count(): number {
    return this.cases.length;
  }
  async get(index: number): Promise<PreprocessedCase> {
    const c = this.cases[index];
    if (!c) throw new ArgumentError(`InMemoryProvider: no case ${index} (have ${this.cases.length})`);
    return c;
  }
}

/** A data set description that a worker thread can rebuild (it crosses threads as plain data). */
export interface PhantomSourceSpec {
  kind: 'phantom';
  count: number;
  seed: number;
  size?: PhantomOptions['size'];
  noise?: number;
  preprocess?: PreprocessOptions;
  /** Preprocessed cases kept in memory; default 4. */
  cacheSize?: number;
}

export interface FolderSourceSpec {
  kind: 'folders';
  /** One folder per case (see case-files.node.ts). */
  dirs: string[];
  preprocess?: PreprocessOptions;
  /** Preprocessed cases kept in memory per thread; default 2. */
  cacheSize?: number;
}

export type SourceSpec = PhantomSourceSpec | FolderSourceSpec;

/** The seed of phantom case `index` in a phantom data set. */
export function phantomCaseSeed(seed: number, index: number): number {
  return new Rng(seed, 0xfa47, index).nextUint32();
}

/** Phantom cases, generated and preprocessed on first use. */
export function phantomProvider(spec: PhantomSourceSpec): CaseProvider {
  const cache = new LruCache<number, PreprocessedCase>(spec.cacheSize ?? 4);
  return {
    count: spec.count,
    async get(index: number): Promise<PreprocessedCase> {
      if (!(index >= 0 && index < spec.count)) throw new ArgumentError(`phantom data set: no case ${index} (have ${spec.count})`);
      let c = cache.get(index);
      if (!c) {
        const opts: PhantomOptions = { seed: phantomCaseSeed(spec.seed, index), id: `phantom-${spec.seed}-${index}` };
        if (spec.size !== undefined) opts.size = spec.size;
        if (spec.noise !== undefined) opts.noise = spec.noise;
        c = preprocessCase(generatePhantom(opts), spec.preprocess);
        cache.set(index, c);
      }
      return c;
    },
  };
}
