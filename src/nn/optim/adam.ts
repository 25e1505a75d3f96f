/**
 * torch.optim.Adam over a module's parameters, on the fused `adamStep` kernel.
 *
 * Parameters are looked up by their dotted names at every step, and the moment estimates
 * belong to the name: loading a state dict replaces a module's parameter tensors, and the
 * optimizer follows (the state moves to the new tensor on the GPU, nothing is read back).
 * A parameter without a gradient is skipped and keeps its step count, as in PyTorch.
 *
 * Checkpoints: `saveState()` writes safetensors (`<name>.exp_avg`, `<name>.exp_avg_sq`, the
 * per-parameter steps and the hyper-parameters in the metadata); `loadState()` checks every
 * entry against the module first and reports all mismatches together.
 */
import { AdamState, adamStep, resolveAdamOptions, type AdamOptions, type AdamStateSnapshot, type ResolvedAdamOptions } from '../../kernels/adam.js';
import { HnfnetError } from '../../tensor/errors.js';
import { fmt } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { Module } from '../module.js';
import { bytesToF32, decodeSafetensors, encodeSafetensors, f32Bytes, type SafeTensor } from '../safetensors.js';

export class Adam {
  private readonly state = new AdamState();
  /** The tensor each name's state is keyed by. */
  private readonly keys = new Map<string, Tensor>();
  private opts: ResolvedAdamOptions;

  constructor(
    readonly module: Module<never[], unknown>,
    opts: AdamOptions = {},
  ) {
    this.opts = resolveAdamOptions(opts);
  }

  get options(): ResolvedAdamOptions {
    return this.opts;
  }

  /** The learning rate of the next steps (schedules set it between steps). */
  get lr(): number {
    return this.opts.lr;
  }

  set lr(v: number) {
    this.opts = resolveAdamOptions({ ...this.opts, lr: v });
  }

  /** Updates every parameter that has a gradient. Run after backward(). */
  step(): void {
    const named = this.module.namedParameters();
    for (const [name, p] of named) this.follow(name, p);
    adamStep(
      named.map(([, p]) => p),
      named.map(([, p]) => p.grad),
      this.state,
      this.opts,
    );
  }

  zeroGrad(): void {
    for (const [, p] of this.module.namedParameters()) p.zeroGrad();
  }

  /** Steps taken by a parameter (0 before its first update). */
  stepCount(name: string): number {
    const k = this.keys.get(name);
    return (k && this.state.get(k)?.step) ?? 0;
  }

  /** Moves a name's state to the tensor that now holds the parameter. */
  private follow(name: string, p: Tensor): void {
    const prev = this.keys.get(name);
    this.keys.set(name, p);
    if (!prev || prev === p) return;
    const old = this.state.get(prev);
    if (!old) return;
    if (old.expAvg.size !== p.size) {
      this.state.delete(prev);
      return;
    }
    const fresh = this.state.ensure(p);
    fresh.step = old.step;
    p.device.copy(old.expAvg.buffer, 0, fresh.expAvg.buffer, 0, p.byteSize);
    p.device.copy(old.expAvgSq.buffer, 0, fresh.expAvgSq.buffer, 0, p.byteSize);
    this.state.delete(prev);
  }

  /** Host copies of every parameter's state, by name (parameters never stepped are absent). */
  async snapshot(): Promise<Map<string, AdamStateSnapshot>> {
    const out = new Map<string, AdamStateSnapshot>();
    for (const [name, p] of this.module.namedParameters()) {
      this.follow(name, p);
      const s = await this.state.read(p);
      if (s) out.set(name, s);
    }
    return out;
  }

  async saveState(): Promise<Uint8Array> {
    const snap = await this.snapshot();
    const tensors = new Map<string, SafeTensor>();
    const steps: Record<string, number> = {};
    for (const [name, s] of snap) {
      const shape = [...this.module.namedParameters().find(([n]) => n === name)![1].shape];
      tensors.set(`${name}.exp_avg`, { dtype: 'F32', shape, bytes: f32Bytes(s.expAvg) });
      tensors.set(`${name}.exp_avg_sq`, { dtype: 'F32', shape, bytes: f32Bytes(s.expAvgSq) });
      steps[name] = s.step;
    }
    const o = this.opts;
    return encodeSafetensors(tensors, {
      format: 'hnfnet-adam',
      steps: JSON.stringify(steps),
      options: JSON.stringify({ lr: o.lr, betas: o.betas, eps: o.eps, weight_decay: o.weightDecay }),
    });
  }

  /**
   * Restores a `saveState()` file: moment estimates and steps (the hyper-parameters stay
   * those of this optimizer; read them from `stateOptions` if wanted). Nothing changes
   * unless every entry fits.
   */
  loadState(data: Uint8Array, source = 'optimizer state'): void {
    const { tensors, metadata } = decodeSafetensors(data, source);
    if (metadata.format !== 'hnfnet-adam') throw new HnfnetError(`${source}: not an hnfnet Adam state (metadata format "${metadata.format ?? ''}")`);
    const steps = JSON.parse(metadata.steps ?? '{}') as Record<string, number>;
    const params = new Map(this.module.namedParameters());
    const problems: string[] = [];
    const restore: [string, Tensor, AdamStateSnapshot][] = [];
    for (const [name, step] of Object.entries(steps)) {
      const p = params.get(name);
      const m = tensors.get(`${name}.exp_avg`);
      const v = tensors.get(`${name}.exp_avg_sq`);
      if (!p) {
        problems.push(`state for ${name}, which the model does not have`);
        continue;
      }
      if (!m || !v) {
        problems.push(`${name}: moment estimates missing`);
        continue;
      }
      for (const [what, t] of [['exp_avg', m], ['exp_avg_sq', v]] as const) {
        if (t.dtype !== 'F32' || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          problems.push(`${name}.${what}: ${t.dtype}${fmt(t.shape)} in file, parameter is F32${fmt(p.shape)}`);
        }
      }
      restore.push([name, p, { step, expAvg: bytesToF32(m.bytes), expAvgSq: bytesToF32(v.bytes) }]);
    }
    if (problems.length) throw new HnfnetError(`${source} does not fit the model (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`);
    for (const [name, p, s] of restore) {
      const prev = this.keys.get(name);
      if (prev && prev !== p) this.state.delete(prev);
      this.keys.set(name, p);
      this.state.load(p, s);
    }
  }

  /** The hyper-parameters stored in a `saveState()` file. */
  static stateOptions(data: Uint8Array): AdamOptions {
    const o = JSON.parse(decodeSafetensors(data).metadata.options ?? '{}') as { lr?: number; betas?: [number, number]; eps?: number; weight_decay?: number };
    return { ...(o.lr !== undefined ? { lr: o.lr } : {}), ...(o.betas ? { betas: o.betas } : {}), ...(o.eps !== undefined ? { eps: o.eps } : {}), ...(o.weight_decay !== undefined ? { weightDecay: o.weight_decay } : {}) };
  }

  dispose(): void {
    this.state.dispose();
    this.keys.clear();
  }
}
