import { Device } from './device.js';
import { DisposedError, HnfnetError, LimitError, ShapeError } from './errors.js';
import { checkShape, fmt, numel, type Shape } from './shape.js';
import { Storage } from './storage.js';
import { keep, track } from './scope.js';
import { accumulateKernel, fillKernel } from './core-kernels.js';
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
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.requiresGrad = requiresGrad;
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

  get byteSize(): number {
    return this.size * 4;
  }

  private live(): Storage {
    if (!this.storage) throw new DisposedError(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} ${fmt(this.shape)} was used after dispose()`);
    return this.storage;
  }

  /** Reads the values back to the host (flushes pending GPU work). */
  async data(): Promise<Float32Array> {
    const s = this.live();
    if (this.size === 0) return new Float32Array(0);
    return new Float32Array(await s.device.read(s.buffer, this.byteSize, this.byteOffset));
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
    const offset = this.byteOffset + start * 4;
    if (offset % this.device.limits.minStorageBufferOffsetAlignment !== 0) return null;
    return new Tensor(this.live().retain(), shape, false, offset);
  }

  /** Marks a leaf as requiring gradients (like requires_grad_() in PyTorch). */
  requireGrad(on = true): this {
    if (this.gradFn) throw new HnfnetError('requireGrad(): only leaf tensors (not results of ops) can be marked');
    this.requiresGrad = on;
    return this;
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
function checkLimits(device: Device, shape: Shape, op: string): void {
  const bytes = numel(shape) * 4;
  const lim = device.limits.maxBufferSize;
  if (bytes > lim) {
    throw new LimitError(`${op}: tensor of shape ${fmt(shape)} needs ${bytes} bytes, more than the device's maxBufferSize (${lim} bytes)`);
  }
}

/** An uninitialised tensor (its buffer comes from the pool and holds stale data). */
export function empty(shape: Shape, device: Device = getDefaultDevice(), op = 'empty'): Tensor {
  checkShape(shape, op);
  checkLimits(device, shape, op);
  const n = numel(shape);
  return new Tensor(new Storage(device, device.allocStorage(Math.max(4, n * 4)), n), shape);
}

export interface CreateOptions {
  device?: Device;
  requiresGrad?: boolean;
}

/** A tensor from host values (copied to the GPU). */
export function tensor(data: ArrayLike<number>, shape?: Shape, opts: CreateOptions = {}): Tensor {
  const sh = shape ?? [data.length];
  if (numel(sh) !== data.length) throw new ShapeError(`tensor(): ${data.length} values do not fill shape ${fmt(sh)} (${numel(sh)} elements)`);
  const t = empty(sh, opts.device ?? getDefaultDevice(), 'tensor');
  if (data.length > 0) {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    t.device.write(t.buffer, arr);
  }
  t.requiresGrad = !!opts.requiresGrad;
  return t;
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const device = opts.device ?? getDefaultDevice();
  const t = empty(shape, device, 'full');
  if (value === 0) device.clear(t.buffer, 0, Math.ceil(Math.max(4, t.byteSize) / 4) * 4);
  else dispatchElementwise(fillKernel, [], [t], { value }, fmt(shape));
  t.requiresGrad = !!opts.requiresGrad;
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
  const out = empty(a.shape, a.device, 'accumulate');
  dispatchElementwise(accumulateKernel, [a, b], [out], {}, fmt(a.shape));
  return out;
}
