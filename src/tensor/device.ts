import { BufferPool, DEFAULT_POOL_CAP, type PoolCap, type PoolStats } from './pool.js';
import { ArgumentError, DeviceLostError, GPUOpError, InternalError, LimitError, NotImplementedError } from './errors.js';
import { findGPU, requestAdapter } from './gpu.js';
import { TRUSTED_KERNEL_TOGGLES, mergeToggles, noToggles, parseToggles, type DawnToggles } from './dawn-toggles.js';
import { binding, halfVariant, kernelKey, packUniforms, uniformLayout, workgroupDims, type KernelDef, type UniformValues } from './kernel.js';
import type { DType } from './dtype.js';
import { Tuner, type TuneOptions } from './tuner.js';

export interface DeviceOptions {
  /** A GPU (navigator.gpu or Dawn's), an adapter or a ready device; otherwise one is found. */
  gpu?: GPU;
  adapter?: GPUAdapter;
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Dispatches recorded before an automatic submit (default 32). */
  maxDispatchesPerSubmit?: number;
  /**
   * Lower limits than the adapter's, as hnfnet sees them (the device is still requested at
   * the adapter's maximum): tests run the chunked paths on small tensors with
   * `{ maxStorageBufferBindingSize: 1 << 20 }`. The environment variables
   * HNFNET_MAX_BINDING and HNFNET_MAX_BUFFER (bytes) do the same for
   * maxStorageBufferBindingSize and maxBufferSize.
   */
  limits?: LimitOverrides;
  /**
   * Trust hnfnet's own kernels enough to run them with fewer of Dawn's safety nets (Node only;
   * no effect in browsers nor with a `gpu`, `adapter` or `device` handed in): the toggles of
   * TRUSTED_KERNEL_TOGGLES. Off by default; docs/PERFORMANCE.md says what it gains and risks.
   */
  trustedKernels?: boolean;
  /**
   * Dawn toggles for the device (Node only), added to those of `trustedKernels` and of the
   * environment variable HNFNET_DAWN_TOGGLES (`name,name,-name`: '-' disables).
   */
  dawnToggles?: DawnToggles;
  /** Kernel autotuning (mode, budgets, store); see tuner.ts. The mode defaults to $HNFNET_TUNE, else 'on'. */
  tune?: TuneOptions;
  /**
   * The most bytes of freed storage buffers kept for reuse (Infinity: keep all). Default
   * $HNFNET_MAX_POOLED, else a quarter of the highest live bytes seen, at least 256 MiB
   * (pool.ts says why).
   */
  maxPooledBytes?: number;
}

export type LimitOverrides = Partial<Pick<DeviceLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>>;

/** The limits hnfnet asks for; each is requested at the adapter's maximum. */
export const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'minStorageBufferOffsetAlignment',
] as const;

export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupsPerDimension: number;
  /** A binding's offset must be a multiple of this (bytes; 256 on most adapters). */
  minStorageBufferOffsetAlignment: number;
}

/** A buffer argument of a dispatch: the GPU buffer and the byte range the kernel may touch. */
export interface BufferArg {
  buffer: GPUBuffer;
  /** Byte size of the binding (defaults to the whole buffer from `offset`). */
  bytes?: number;
  /** Byte offset of the binding, a multiple of minStorageBufferOffsetAlignment (default 0). */
  offset?: number;
  /** The element type of the tensor bound (default float32); float16 selects the kernel's halfVariant. */
  dtype?: DType;
}

export interface DispatchArgs {
  inputs: readonly BufferArg[];
  outputs: readonly BufferArg[];
  uniforms?: UniformValues;
  /** Total invocations of a 1-D launch (spread over x and y when above the per-dimension limit)... */
  invocations?: number;
  /** ...or an explicit workgroup grid. */
  workgroups?: readonly [number, number, number];
  /** Shapes and attributes, for error messages. */
  label: string;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  def: KernelDef;
  layout: ReturnType<typeof uniformLayout>;
}

/** Callback for profilers: receives each dispatch's label before it is recorded. */
export type DispatchHook = (kernel: string, label: string, pass: GPUComputePassEncoder | null) => void;

function subgroupMin(info: GPUAdapterInfo | undefined): number {
  const n = Number((info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * One WebGPU device and everything hnfnet keeps per device: limits, buffer pools, the
 * command encoder being recorded, the pipeline cache and error bookkeeping.
 */
export class Device {
  readonly limits: DeviceLimits;
  readonly features: ReadonlySet<string>;
  private readonly storagePool: BufferPool;
  private readonly uniformPool: BufferPool;
  private readonly stagingPool: BufferPool;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInBatch = 0;
  private labelsInBatch: string[] = [];
  private readonly pipelines = new Map<string, Compiled>();
  /** The per-dispatch lookup: a definition object straight to its pipeline, no key made. */
  private readonly compiledDefs = new WeakMap<KernelDef, Compiled>();
  private readonly errors: Promise<GPUOpError | null>[] = [];
  private lostError: DeviceLostError | null = null;
  readonly maxDispatchesPerSubmit: number;
  private timestamps: PassTimer | null = null;
  private tunerRef: Tuner;
  /** Set by profilers (bench): called for every dispatch. */
  dispatchHook: DispatchHook | null = null;
  /** Number of submits so far; tests and the bench read it. */
  submits = 0;
  dispatches = 0;

  private constructor(
    readonly gpuDevice: GPUDevice,
    readonly adapterInfo: string,
    /** The GPU the device came from; held so Dawn's instance outlives the device. */
    readonly gpu: GPU | null,
    opts: DeviceOptions,
    /** The Dawn toggles this device was asked for (empty unless set; see DeviceOptions). */
    readonly dawnToggles: DawnToggles = {},
    /**
     * The fewest lanes a subgroup of this adapter may have (GPUAdapterInfo.subgroupMinSize);
     * 0 where the adapter does not say. Subgroup kernels that assume a width check it.
     */
    readonly subgroupMinSize = 0,
  ) {
    const l = gpuDevice.limits;
    this.limits = effectiveLimits(Object.fromEntries(REQUESTED_LIMITS.map((k) => [k, Number(l[k])])) as unknown as DeviceLimits, opts.limits);
    this.features = new Set([...gpuDevice.features]);
    this.maxDispatchesPerSubmit = opts.maxDispatchesPerSubmit ?? 32;
    this.tunerRef = new Tuner(this, opts.tune);
    const dev = gpuDevice;
    this.storagePool = new BufferPool(
      (bytes) => this.createBuffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST),
      true,
      poolCap(opts.maxPooledBytes),
      () => this.flush(),
    );
    this.uniformPool = new BufferPool((bytes) => dev.createBuffer({ size: bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }), false);
    this.stagingPool = new BufferPool((bytes) => dev.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }), false);
    gpuDevice.lost.then((info) => {
      this.lostError = new DeviceLostError(
        `GPU device lost (reason: ${info.reason || 'unknown'}${info.message ? `: ${info.message}` : ''}). ` +
          'Tensors on it are gone; make a new device with `await init()` (or Device.create()) and recreate them (a model: load its weights again).',
      );
    });
    gpuDevice.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(Promise.resolve(new GPUOpError(`WebGPU error outside any op: ${e.message}`)));
    });
  }

  static async create(opts: DeviceOptions = {}): Promise<Device> {
    if (opts.dawnToggles && (opts.gpu || opts.adapter || opts.device)) {
      throw new ArgumentError('Device.create: dawnToggles apply to the GPU hnfnet finds itself; a gpu, adapter or device handed in already has its toggles');
    }
    if (opts.device) {
      // Kernels pick variants by adapter (software rasterisers differ from GPUs), so describe it.
      const info = (opts.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo ?? opts.adapter?.info;
      return new Device(opts.device, describeAdapter(info) || 'device handed in', opts.gpu ?? null, opts, {}, subgroupMin(info));
    }
    const toggles = opts.gpu || opts.adapter ? {} : requestedToggles(opts);
    const gpu = opts.adapter ? (opts.gpu ?? null) : (opts.gpu ?? findGPU(toggles));
    const adapter = opts.adapter ?? (await requestAdapter(gpu!, opts.powerPreference));
    const requiredLimits: Record<string, number> = {};
    for (const k of REQUESTED_LIMITS) if (k !== 'minStorageBufferOffsetAlignment') requiredLimits[k] = Number(adapter.limits[k]);
    const requiredFeatures: GPUFeatureName[] = [];
    if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
    // Only kernels offered where device.features has it use subgroups (instance-norm.ts's tuner candidate).
    if (adapter.features.has('subgroups')) requiredFeatures.push('subgroups');
    // float16 tensors (inference) need it; without it creating one is a clear error (dtype.ts).
    if (adapter.features.has('shader-f16')) requiredFeatures.push('shader-f16');
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'hnfnet' });
    return new Device(device, describeAdapter(adapter.info) || 'unknown adapter', gpu, opts, toggles, subgroupMin(adapter.info));
  }

  /**
   * Whether reads past a binding are still caught (Dawn's robustness, unless this device was
   * asked for `disable_robustness`). Kernels that read past a tensor's end check it.
   */
  get robustBufferAccess(): boolean {
    return !this.dawnToggles.enable?.includes('disable_robustness');
  }

  /** Picks kernel variants by measurement (tuner.ts): `await device.tuner.tunePending()`, `device.tuner.report()`. */
  get tuner(): Tuner {
    return this.tunerRef;
  }

  /** Replaces the tuner (a new mode, budget or store); what the old one measured stays in its cache. */
  configureTuning(opts: TuneOptions): Tuner {
    this.tunerRef = new Tuner(this, opts);
    return this.tunerRef;
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  /** Throws the device-lost error if the device is gone; every entry point calls it. */
  checkAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  // ---- memory -------------------------------------------------------------------------

  private createBuffer(bytes: number, usage: number): GPUBuffer {
    if (bytes > this.limits.maxBufferSize) {
      throw new LimitError(`buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.limits.maxBufferSize})`);
    }
    return this.gpuDevice.createBuffer({ size: bytes, usage });
  }

  /** A storage buffer of at least `bytes` bytes from the pool. */
  allocStorage(bytes: number): GPUBuffer {
    this.checkAlive();
    return this.storagePool.acquire(bytes);
  }

  releaseStorage(buf: GPUBuffer): void {
    this.storagePool.release(buf);
  }

  memoryStats(): PoolStats {
    return this.storagePool.stats();
  }

  resetPeakMemory(): void {
    this.storagePool.resetPeak();
  }

  /** Returns pooled (unused) buffers to the driver. */
  trimPool(): void {
    this.flush();
    this.storagePool.trim();
    this.uniformPool.trim();
    this.stagingPool.trim();
  }

  write(buf: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.checkAlive();
    this.gpuDevice.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  // ---- recording ----------------------------------------------------------------------

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.gpuDevice.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) {
      const tw = this.timestamps?.nextPass();
      this.pass = this.getEncoder().beginComputePass(tw ? { timestampWrites: tw } : {});
    }
    return this.pass;
  }

  /**
   * Starts timing GPU work with timestamp queries (where the adapter has them): every
   * compute pass recorded until `stopTiming()` is bracketed by two timestamps.
   */
  startTiming(): boolean {
    if (!this.features.has('timestamp-query')) return false;
    this.flush();
    this.timestamps = new PassTimer(this.gpuDevice);
    return true;
  }

  /** Whether startTiming() is in effect. */
  get isTiming(): boolean {
    return this.timestamps !== null;
  }

  /** Total GPU nanoseconds of the passes since startTiming(), or null without timestamp queries. */
  async stopTiming(): Promise<number | null> {
    const t = this.timestamps;
    if (!t) return null;
    this.flush();
    this.timestamps = null;
    let ns: number | null = null;
    if (t.used > 0) {
      this.withEncoder((enc) => t.resolve(enc));
      const raw = new BigUint64Array(await this.read(t.resolveBuffer, t.used * 8));
      ns = 0;
      for (let i = 0; i + 1 < t.used; i += 2) ns += Number(raw[i + 1]! - raw[i]!);
    }
    t.destroy();
    return ns;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Compiles (once) and returns the pipeline of a kernel; `kernelKey` (its WGSL) is the key. */
  pipeline(def: KernelDef): Compiled {
    const known = this.compiledDefs.get(def);
    if (known) return known;
    const code = kernelKey(def);
    let c = this.pipelines.get(code);
    if (!c) {
      const dev = this.gpuDevice;
      dev.pushErrorScope('validation');
      const module = dev.createShaderModule({ code, label: def.name });
      const pipeline = dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: def.name });
      this.trackScope(`compiling kernel ${def.name}`, code);
      c = { pipeline, def, layout: uniformLayout(def.uniforms) };
      this.pipelines.set(code, c);
    }
    this.compiledDefs.set(def, c);
    return c;
  }

  /** Compiles pipelines ahead of use without blocking the thread on each. */
  async warmup(defs: readonly KernelDef[]): Promise<void> {
    await Promise.all(
      defs.map(async (def) => {
        const code = kernelKey(def);
        if (this.pipelines.has(code)) return;
        const module = this.gpuDevice.createShaderModule({ code, label: def.name });
        const pipeline = await this.gpuDevice.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: def.name });
        this.pipelines.set(code, { pipeline, def, layout: uniformLayout(def.uniforms) });
      }),
    );
  }

  private trackScope(label: string, extra?: string): void {
    const p = this.gpuDevice.popErrorScope().then((e) =>
      e ? new GPUOpError(`${label}: ${e.message}${extra && debugEnabled() ? `\n${extra}` : ''}`) : null,
    );
    this.errors.push(p);
  }

  /** Whether float16 tensors can be made here (the device has `shader-f16`). */
  get hasHalf(): boolean {
    return this.features.has('shader-f16');
  }

  /** Throws unless float16 tensors can be made on this device. */
  checkHalf(op: string): void {
    if (!this.hasHalf) {
      throw new NotImplementedError(`${op}: float16 tensors need the WebGPU feature 'shader-f16', which this device (${this.adapterInfo}) does not have; use float32`);
    }
  }

  /** The definition to run for these arguments: its halfVariant where one is bound to a float16 tensor. */
  private forDtypes(def: KernelDef, args: DispatchArgs): KernelDef {
    // Every dispatch passes here: the common all-float32 case allocates nothing.
    const isHalf = (b: BufferArg) => b.dtype === 'float16';
    if (!args.inputs.some(isHalf) && !args.outputs.some(isHalf)) return def;
    const all = [...args.inputs, ...args.outputs];
    const bindings = [...def.inputs, ...def.outputs].map(binding);
    const half = all.map((b) => b.dtype === 'float16');
    if (!def.halfStorage) {
      const names = bindings.filter((_, i) => half[i]).map((b) => b.name);
      throw new NotImplementedError(`${def.name} (${args.label}): float16 tensors are not implemented for this kernel (bindings ${names.join(', ')}); convert them with .to('float32')`);
    }
    this.checkHalf(def.name);
    return halfVariant(def, half);
  }

  /** Records one dispatch into the shared encoder. */
  dispatch(given: KernelDef, args: DispatchArgs): void {
    this.checkAlive();
    const def = this.forDtypes(given, args);
    const storageBindings = def.inputs.length + def.outputs.length;
    if (storageBindings > this.limits.maxStorageBuffersPerShaderStage) {
      throw new LimitError(`${def.name}: ${storageBindings} storage buffers exceed maxStorageBuffersPerShaderStage (${this.limits.maxStorageBuffersPerShaderStage})`);
    }
    if (args.inputs.length !== def.inputs.length || args.outputs.length !== def.outputs.length) {
      throw new ArgumentError(`${def.name}: expected ${def.inputs.length} inputs and ${def.outputs.length} outputs`);
    }
    const grid = this.grid(def, args);
    if (grid[0] === 0 || grid[1] === 0 || grid[2] === 0) return;
    const { pipeline, layout } = this.pipeline(def);
    const entries: GPUBindGroupEntry[] = [];
    let slot = 0;
    for (const b of [...args.inputs, ...args.outputs]) {
      const offset = b.offset ?? 0;
      const size = b.bytes ?? b.buffer.size - offset;
      if (size > this.limits.maxStorageBufferBindingSize) {
        throw new LimitError(`${def.name} (${args.label}): a binding of ${size} bytes exceeds maxStorageBufferBindingSize (${this.limits.maxStorageBufferBindingSize})`);
      }
      if (offset % this.limits.minStorageBufferOffsetAlignment !== 0) {
        throw new InternalError(`${def.name} (${args.label}): binding offset ${offset} is not a multiple of minStorageBufferOffsetAlignment (${this.limits.minStorageBufferOffsetAlignment})`);
      }
      entries.push({ binding: slot++, resource: { buffer: b.buffer, offset, size: Math.max(4, Math.ceil(size / 4) * 4) } });
    }
    if (def.uniforms.length > 0) {
      const data = packUniforms(layout, args.uniforms ?? {}, def.name);
      const ubuf = this.uniformPool.acquire(data.byteLength);
      this.gpuDevice.queue.writeBuffer(ubuf, 0, data);
      this.uniformPool.release(ubuf);
      entries.push({ binding: slot++, resource: { buffer: ubuf, offset: 0, size: data.byteLength } });
    }
    this.gpuDevice.pushErrorScope('validation');
    const bindGroup = this.gpuDevice.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.trackScope(`${def.name} (${args.label})`);
    const pass = this.getPass();
    this.dispatchHook?.(def.name, args.label, pass);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.dispatches++;
    this.dispatchesInBatch++;
    this.labelsInBatch.push(def.name);
    if (this.dispatchesInBatch >= this.maxDispatchesPerSubmit) this.flush();
  }

  private grid(def: KernelDef, args: DispatchArgs): [number, number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (args.workgroups) {
      const [x, y, z] = args.workgroups;
      if (x > max || y > max || z > max) {
        throw new LimitError(`${def.name} (${args.label}): grid ${x}×${y}×${z} exceeds maxComputeWorkgroupsPerDimension (${max})`);
      }
      return [x, y, z];
    }
    const n = args.invocations ?? 0;
    const [wx, wy, wz] = workgroupDims(def);
    const groups = Math.ceil(n / (wx * wy * wz));
    if (groups <= max) return [groups, groups > 0 ? 1 : 0, groups > 0 ? 1 : 0];
    const y = Math.ceil(groups / max);
    if (y <= max) return [Math.ceil(groups / y), y, 1];
    const z = Math.ceil(y / max);
    return [max, Math.ceil(groups / (max * z)), z];
  }

  /** Records a buffer copy (ends the current compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Records a zero fill (ends the current compute pass). */
  clear(buf: GPUBuffer, offset = 0, bytes?: number): void {
    this.checkAlive();
    this.endPass();
    this.getEncoder().clearBuffer(buf, offset, bytes);
  }

  /** Gives the encoder direct access (timestamp writes in the bench). */
  withEncoder(fn: (enc: GPUCommandEncoder) => void): void {
    this.endPass();
    fn(this.getEncoder());
  }

  /** Submits what has been recorded. Buffers released before this point become reusable. */
  flush(): void {
    this.checkAlive();
    this.endPass();
    if (this.encoder) {
      const labels = this.labelsInBatch;
      this.gpuDevice.pushErrorScope('out-of-memory');
      this.gpuDevice.pushErrorScope('validation');
      this.gpuDevice.queue.submit([this.encoder.finish()]);
      const summary = summarize(labels);
      this.trackScope(`submitting [${summary}]`);
      this.trackScope(`out of GPU memory while running [${summary}]`);
      this.encoder = null;
      this.submits++;
    }
    this.dispatchesInBatch = 0;
    this.labelsInBatch = [];
    this.storagePool.afterSubmit();
    this.uniformPool.afterSubmit();
    this.stagingPool.afterSubmit();
  }

  /** Waits for all submitted work, then throws the first GPU error any op raised. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpuDevice.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  async throwPendingErrors(): Promise<void> {
    this.checkAlive();
    if (this.errors.length === 0) return;
    const all = await Promise.all(this.errors.splice(0));
    const first = all.find((e) => e !== null);
    if (first) throw first;
  }

  /** Copies `bytes` bytes of a buffer back to the host. */
  async read(buf: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const staging = this.stagingPool.acquire(size);
    this.copy(buf, offset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.checkAlive();
      await this.throwPendingErrors();
      throw e;
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.stagingPool.release(staging);
    await this.throwPendingErrors();
    return out;
  }

  destroy(): void {
    this.encoder = null;
    this.pass = null;
    this.gpuDevice.destroy();
  }
}

/** Query slots for pass timestamps; passes beyond its capacity go untimed. */
class PassTimer {
  static readonly CAPACITY = 4096;
  readonly querySet: GPUQuerySet;
  readonly resolveBuffer: GPUBuffer;
  used = 0;
  constructor(device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: PassTimer.CAPACITY });
    this.resolveBuffer = device.createBuffer({ size: PassTimer.CAPACITY * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }
  nextPass(): GPUComputePassTimestampWrites | undefined {
    if (this.used + 2 > PassTimer.CAPACITY) return undefined;
    const w = { querySet: this.querySet, beginningOfPassWriteIndex: this.used, endOfPassWriteIndex: this.used + 1 };
    this.used += 2;
    return w;
  }
  resolve(enc: GPUCommandEncoder): void {
    enc.resolveQuerySet(this.querySet, 0, this.used, this.resolveBuffer, 0);
  }
  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

/** The adapter's limits lowered by the overrides (options over HNFNET_MAX_BINDING / HNFNET_MAX_BUFFER); never raised. */
function effectiveLimits(adapter: DeviceLimits, overrides: LimitOverrides | undefined): DeviceLimits {
  const binding = envNumber('HNFNET_MAX_BINDING');
  const buffer = envNumber('HNFNET_MAX_BUFFER');
  const want: LimitOverrides = {
    ...(binding !== undefined ? { maxStorageBufferBindingSize: binding } : {}),
    ...(buffer !== undefined ? { maxBufferSize: buffer } : {}),
    ...overrides,
  };
  const out = { ...adapter };
  for (const [k, v] of Object.entries(want) as [keyof LimitOverrides, number | undefined][]) {
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1024 || v % out.minStorageBufferOffsetAlignment !== 0) {
      throw new LimitError(`limit override ${k} = ${v}: expected an integer ≥ 1024 bytes, a multiple of minStorageBufferOffsetAlignment (${out.minStorageBufferOffsetAlignment})`);
    }
    if (v > adapter[k]) throw new LimitError(`limit override ${k} = ${v} is above the adapter's ${adapter[k]}; overrides can only lower a limit`);
    out[k] = v;
  }
  return out;
}

/** Toggles from HNFNET_DAWN_TOGGLES, `trustedKernels` and `dawnToggles`; none in a browser unless asked for. */
function requestedToggles(opts: DeviceOptions): DawnToggles {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string } } }).process;
  const env = p?.env?.HNFNET_DAWN_TOGGLES;
  const trusted = opts.trustedKernels && p?.versions?.node ? TRUSTED_KERNEL_TOGGLES : undefined;
  const t = mergeToggles(env ? parseToggles(env) : undefined, trusted, opts.dawnToggles);
  return noToggles(t) ? {} : t;
}

function envNumber(name: string): number | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new LimitError(`${name}=${v} is not a number of bytes`);
  return n;
}

function describeAdapter(info: GPUAdapterInfo | undefined): string {
  return [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ');
}

function summarize(labels: string[]): string {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k}×${n}` : k)).join(', ');
}

function poolCap(given: number | undefined): PoolCap {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.HNFNET_MAX_POOLED;
  const bytes = given ?? (env !== undefined && env !== '' ? Number(env) : undefined);
  if (bytes === undefined) return DEFAULT_POOL_CAP;
  if (!(bytes >= 0)) throw new ArgumentError(`maxPooledBytes${given === undefined ? ' (HNFNET_MAX_POOLED)' : ''} must be a number of bytes ≥ 0, got ${given ?? env}`);
  return () => bytes;
}

function debugEnabled(): boolean {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return !!p?.env?.HNFNET_DEBUG;
}
