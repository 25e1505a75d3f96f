import { Device } from './device.js';
import { ArgumentError, DisposedError, HnfnetError, InternalError, LimitError, ShapeError } from './errors.js';
import { checkShape, fmt, numel, type Shape } from './shape.js';
import { Storage } from './storage.js';
import { keep, track } from './scope.js';
import { accumulateKernel, castKernel, fillKernel } from './core-kernels.js';
import { fromHalfArray, itemSize, toHalfArray, type DType } from './dtype.js';
import { Generator, defaultGenerator } from './random.js';
import { dispatchElementwise } from './chunks.js';

let defaultDevice: Device | null = null;

/** Creates a WebGPU device and makes it the default for tensor creation. */
export async function init(opts: Parameters<typeof Device.create>[0] = {}): Promise<Device> {
  const d = await Device.create(opts);
  defaultDevice = d;
  return d;
}

export function setDefaultDevice(d: Device | null): void {
  defaultDevice = d;
}

export function getDefaultDevice(): Device {
  if (!defaultDevice) throw new HnfnetError('No device: call `await init()` (or setDefaultDevice) before creating tensors.');
  return defaultDevice;
}

// ---- autograd graph ----------------------------------------------------------------

/** Gradients of a node's outputs in, gradients of its inputs out (null = no gradient). */
export type BackwardFn = (grads: readonly Tensor[], saved: readonly Tensor[]) => readonly (Tensor | null)[];

/** Where a node's input came from: another node's output, or a leaf that accumulates `.grad`. */
export interface Edge {
  node: GradNode | null;
  outputIndex: number;
  leaf: Tensor | null;
  shape: Shape;
}

/**
 * One recorded op. It is kept alive by the tensors it produced and by the nodes that
 * consumed them; when nothing refers to it any more (or backward has run through it),
 * its saved tensors are released, so intermediates live exactly as long as needed.
 */
export class GradNode {
  refs = 0;
  consumed = false;
  constructor(
    readonly name: string,
    readonly edges: Edge[],
    public saved: Tensor[],
    public backwardFn: BackwardFn | null,
    readonly outputShapes: Shape[],
  ) {
    for (const e of edges) if (e.node) e.node.refs++;
  }

  unref(): void {
    if (--this.refs === 0) this.free();
  }

  /** Releases saved tensors and the references this node holds on its inputs' nodes. */
  free(): void {
    this.releaseSaved();
    this.backwardFn = null;
    for (const e of this.edges) {
      const n = e.node;
      e.node = null;
      e.leaf = null;
      n?.unref();
    }
  }

  releaseSaved(): void {
    for (const s of this.saved) s.dispose();
    this.saved = [];
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with gradient recording off (inference, optimizer updates, EM iterations). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with gradient recording on, also inside noGrad (torch.enable_grad; checkpoint's recompute). */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

let inputWatcher: ((inputs: readonly Tensor[]) => void) | null = null;

/**
 * Runs fn with `watch` shown the inputs of every op it records or would record (attachGrad is
 * called with gradients off too): how checkpoint() finds the parameters its fn uses.
 * Watchers nest; the outer one sees nothing while an inner one runs.
 */
export function watchOpInputs<T>(watch: (inputs: readonly Tensor[]) => void, fn: () => T): T {
  const prev = inputWatcher;
  inputWatcher = watch;
  try {
    return fn();
  } finally {
    inputWatcher = prev;
  }
}

/** The id the next tensor will get: tensors with a smaller one existed before (checkpoint's outputs). */
export function nextTensorId(): number {
  return nextId;
}

// ---- tensors ---------------------------------------------------------------------------

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  /** Element type: float32 (default, and the only one autograd takes) or float16 (inference storage). */
  readonly dtype: DType;
  private storage: Storage | null;
  /** Leaves with requiresGrad accumulate `.grad` in backward(). */
  requiresGrad: boolean;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;
  outputIndex = 0;
  /** Parameters name themselves for error messages. */
  name: string | undefined;

  /**
   * Use the factory functions (tensor, zeros, empty...) rather than this constructor.
   * `byteOffset` places a view inside its storage's buffer (a multiple of the device's
   * minStorageBufferOffsetAlignment; chunked kernels bind such views).
   */
  constructor(storage: Storage, shape: Shape, requiresGrad = false, readonly byteOffset = 0) {
    this.storage = storage;
    this.dtype = storage.dtype;
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.requiresGrad = requiresGrad;
    if (requiresGrad) checkGradDtype(this, 'requiresGrad');
    track(this);
  }

  get device(): Device {
    return this.live().device;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The GPU buffer (may be larger than the tensor; kernels bind `byteSize` bytes of it from `byteOffset`). */
  get buffer(): GPUBuffer {
    return this.live().buffer;
  }

  /** Bytes per element (4 for float32, 2 for float16). */
  get itemSize(): number {
    return itemSize(this.dtype);
  }

  get byteSize(): number {
    return this.size * this.itemSize;
  }

  private live(): Storage {
    if (!this.storage) throw new DisposedError(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} ${fmt(this.shape)} was used after dispose()`);
    return this.storage;
  }

  /** Reads the values back to the host (flushes pending GPU work). */
  async data(): Promise<Float32Array> {
    const s = this.live();
    if (this.size === 0) return new Float32Array(0);
    const bytes = await s.device.read(s.buffer, this.byteSize, this.byteOffset);
    return this.dtype === 'float16' ? fromHalfArray(new Uint16Array(bytes)) : new Float32Array(bytes);
  }

  /** Reads a 0-d or one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item(): tensor has ${this.size} elements ${fmt(this.shape)}, expected 1`);
    return (await this.data())[0]!;
  }

  /** A tensor sharing this one's buffer (no copy); gradients flow through it. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape);
    const out = new Tensor(this.live().retain(), resolved, false, this.byteOffset);
    const src = this.shape;
    attachGrad('reshape', [this], [out], [], (g) => [g[0]!.reshape(src)]);
    return out;
  }

  /** A view that is cut off from the graph. */
  detach(): Tensor {
    return new Tensor(this.live().retain(), this.shape, false, this.byteOffset);
  }

  /** A view with another shape and no autograd record (for kernels' internal reshapes). */
  view(shape: readonly number[]): Tensor {
    return new Tensor(this.live().retain(), resolveReshape(this.shape, shape), false, this.byteOffset);
  }

  /**
   * Elements [start, start + numel(shape)) as a tensor of `shape` sharing this buffer, or
   * null when that run does not start at a bindable offset (then copy it instead). No autograd.
   */
  viewRange(start: number, shape: readonly number[]): Tensor | null {
    const n = numel(shape);
    if (start < 0 || start + n > this.size) throw new ShapeError(`viewRange: elements [${start}, ${start + n}) are outside ${fmt(this.shape)}`);
    const offset = this.byteOffset + start * this.itemSize;
    if (offset % this.device.limits.minStorageBufferOffsetAlignment !== 0) return null;
    return new Tensor(this.live().retain(), shape, false, offset);
  }

  /** Marks a leaf as requiring gradients (like requires_grad_() in PyTorch). */
  requireGrad(on = true): this {
    if (this.gradFn) throw new HnfnetError('requireGrad(): only leaf tensors (not results of ops) can be marked');
    if (on) checkGradDtype(this, 'requireGrad()');
    this.requiresGrad = on;
    return this;
  }

  /**
   * This tensor as `dtype`: itself (a view) when it already is, else a converted copy
   * (float32 → float16 rounds to nearest even). float16 takes no part in autograd, so a
   * conversion of a tensor that requires grad, with gradients on, is an error.
   */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this.reshape(this.shape);
    const out = empty(this.shape, this.device, 'to', dtype);
    if (this.size > 0) dispatchElementwise(castKernel, [this], [out], {}, `${fmt(this.shape)} ${this.dtype} → ${dtype}`);
    attachGrad('to', [this], [out], [], () => {
      throw new InternalError('to(): no gradient through a float16 conversion');
    });
    return out;
  }

  /** Releases this handle's reference to the GPU buffer. Safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    const node = this.gradFn;
    this.gradFn = null;
    node?.unref();
  }

  /** Drops the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor#${this.id}${fmt(this.shape)}${this.requiresGrad ? ' requiresGrad' : ''}`;
  }
}

/** float16 is inference storage: autograd (and so training) keeps float32. */
function checkGradDtype(t: Tensor, what: string): void {
  if (t.dtype !== 'float32') {
    throw new ArgumentError(`${what}: tensor #${t.id}${t.name ? ` (${t.name})` : ''} ${fmt(t.shape)} is ${t.dtype}; gradients are float32 only (training keeps float32, float16 is for inference: run it under noGrad())`);
  }
}

function resolveReshape(from: Shape, to: readonly number[]): number[] {
  const n = numel(from);
  const neg = to.filter((d) => d === -1).length;
  if (neg > 1) throw new ShapeError(`reshape: at most one -1 in ${fmt(to)}`);
  const known = to.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  checkShape(out, 'reshape');
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(`reshape: cannot view ${fmt(from)} (${n} elements) as ${fmt(to)}`);
  }
  return out;
}

/**
 * Records an op for autograd when gradients are on and an input needs one. `save`
 * tensors are retained (as detached views) until backward passes this node.
 */
export function attachGrad(name: string, inputs: readonly Tensor[], outputs: readonly Tensor[], save: readonly Tensor[], backward: BackwardFn): void {
  inputWatcher?.(inputs);
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
  for (const t of [...inputs, ...outputs]) checkGradDtype(t, name);
  const edges: Edge[] = inputs.map((t) => ({
    node: t.gradFn,
    outputIndex: t.outputIndex,
    leaf: t.requiresGrad && !t.gradFn ? t : null,
    shape: t.shape,
  }));
  const saved = save.map((t) => keep(t.detach()));
  const node = new GradNode(name, edges, saved, backward, outputs.map((o) => o.shape));
  outputs.forEach((o, i) => {
    if (o.gradFn) throw new HnfnetError(`internal: output of ${name} was already recorded by ${o.gradFn.name}`);
    o.gradFn = node;
    o.outputIndex = i;
    o.requiresGrad = true;
    node.refs++;
  });
}

// ---- creation --------------------------------------------------------------------------

/** A tensor is one buffer; kernels bind it in ranges, so only maxBufferSize bounds it. */
function checkLimits(device: Device, shape: Shape, op: string, dtype: DType): void {
  const bytes = numel(shape) * itemSize(dtype);
  const lim = device.limits.maxBufferSize;
  if (bytes > lim) {
    throw new LimitError(`${op}: tensor of shape ${fmt(shape)} needs ${bytes} bytes, more than the device's maxBufferSize (${lim} bytes)`);
  }
}

/** An uninitialised tensor (its buffer comes from the pool and holds stale data). */
export function empty(shape: Shape, device: Device = getDefaultDevice(), op = 'empty', dtype: DType = 'float32'): Tensor {
  checkShape(shape, op);
  if (dtype === 'float16') device.checkHalf(op);
  checkLimits(device, shape, op, dtype);
  const n = numel(shape);
  // Whole 4-byte words: bindings and copies are sized in them.
  const bytes = Math.max(4, Math.ceil((n * itemSize(dtype)) / 4) * 4);
  return new Tensor(new Storage(device, device.allocStorage(bytes), n, dtype), shape);
}

export interface CreateOptions {
  device?: Device;
  requiresGrad?: boolean;
  /** Element type (default float32). */
  dtype?: DType;
}

/** A tensor from host values (copied to the GPU). */
export function tensor(data: ArrayLike<number>, shape?: Shape, opts: CreateOptions = {}): Tensor {
  const sh = shape ?? [data.length];
  if (numel(sh) !== data.length) throw new ShapeError(`tensor(): ${data.length} values do not fill shape ${fmt(sh)} (${numel(sh)} elements)`);
  const t = empty(sh, opts.device ?? getDefaultDevice(), 'tensor', opts.dtype);
  if (data.length > 0) {
    if (t.dtype === 'float16') {
      // queue.writeBuffer takes whole 4-byte words.
      const bits = new Uint16Array(Math.ceil(data.length / 2) * 2);
      bits.set(toHalfArray(data));
      t.device.write(t.buffer, bits);
    } else t.device.write(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
  }
  if (opts.requiresGrad) t.requireGrad();
  return t;
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const device = opts.device ?? getDefaultDevice();
  const t = empty(shape, device, 'full', opts.dtype);
  if (value === 0) device.clear(t.buffer, 0, Math.ceil(Math.max(4, t.byteSize) / 4) * 4);
  else dispatchElementwise(fillKernel, [], [t], { value }, fmt(shape));
  if (opts.requiresGrad) t.requireGrad();
  return t;
}

export const zeros = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: Shape, opts: CreateOptions = {}): Tensor => full(shape, 1, opts);

export interface RandomOptions extends CreateOptions {
  /** A seed for a one-off generator, or a generator to draw from (default: the global one). */
  seed?: number;
  generator?: Generator;
}

function gen(opts: RandomOptions): Generator {
  return opts.generator ?? (opts.seed !== undefined ? new Generator(opts.seed) : defaultGenerator());
}

/** Standard normal values (drawn on the host from a seedable generator, so runs repeat exactly). */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  const g = gen(opts);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = g.normal();
  return tensor(a, shape, opts);
}

/** Uniform values in [low, high). */
export function rand(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const g = gen(opts);
  const lo = opts.low ?? 0;
  const hi = opts.high ?? 1;
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * g.uniform();
  return tensor(a, shape, opts);
}

/** Same-shape sum without broadcasting and without autograd (gradient accumulation). */
export function accumulate(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new ShapeError(`accumulate: ${fmt(a.shape)} vs ${fmt(b.shape)}`);
  const out = empty(a.shape, a.device, 'accumulate', a.dtype);
  dispatchElementwise(accumulateKernel, [a, b], [out], {}, fmt(a.shape));
  return out;
}
