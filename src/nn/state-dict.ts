import { HnfnetError } from '../tensor/errors.js';
import { tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import type { Module } from './module.js';
import { bytesToF32, decodeSafetensors, encodeSafetensors, f32Bytes, type SafeTensor } from './safetensors.js';

export class StateDictError extends HnfnetError {
  override name = 'StateDictError';
  override readonly code = 'STATE_DICT';
}

/** Reads every parameter and buffer back and encodes them as safetensors. */
export async function saveStateDict(module: Module<never[], unknown>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const entries = new Map<string, SafeTensor>();
  for (const [name, t] of module.stateDict()) {
    entries.set(name, { dtype: 'F32', shape: [...t.shape], bytes: f32Bytes(await t.data()) });
  }
  return encodeSafetensors(entries, metadata);
}

export interface LoadOptions {
  /** Require the file and the model to hold exactly the same names (default true). */
  strict?: boolean;
  /** Names the file in error messages. */
  source?: string;
}

function nonFinite(v: Float32Array): { count: number; first: number; index: number } | null {
  let count = 0;
  let index = -1;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) {
      if (count++ === 0) index = i;
    }
  }
  return count ? { count, first: v[index]!, index } : null;
}

/**
 * Loads safetensors bytes into a module. Every name, shape, dtype and value (finite) is checked first and
 * all mismatches are reported together; nothing is changed unless everything fits.
 */
export function loadStateDict(module: Module<never[], unknown>, data: Uint8Array, opts: LoadOptions = {}): Record<string, string> {
  const source = opts.source ?? 'state dict';
  const { tensors, metadata } = decodeSafetensors(data, source);
  const own = module.stateDict();
  const problems: string[] = [];
  for (const [name, t] of own) {
    const f = tensors.get(name);
    if (!f) {
      if (opts.strict !== false) problems.push(`missing in file: ${name} ${fmt(t.shape)}`);
      continue;
    }
    if (f.dtype !== 'F32') problems.push(`${name}: dtype ${f.dtype} in file, model needs F32`);
    if (f.shape.length !== t.shape.length || f.shape.some((d, i) => d !== t.shape[i])) problems.push(`${name}: shape ${fmt(f.shape)} in file, model has ${fmt(t.shape)}`);
    else if (f.dtype === 'F32') {
      // One NaN or Inf in a weight turns every output it reaches into NaN: a diverged or damaged file.
      const bad = nonFinite(bytesToF32(f.bytes));
      if (bad) problems.push(`${name}: ${bad.count} non-finite value${bad.count > 1 ? 's' : ''} (first ${bad.first} at index ${bad.index}); the weights are damaged or come from a diverged run`);
    }
  }
  if (opts.strict !== false) for (const name of tensors.keys()) if (!own.has(name)) problems.push(`unexpected in file: ${name}`);
  if (problems.length) {
    const shown = problems.slice(0, 20);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    throw new StateDictError(`${source} does not fit the model (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${shown.join('\n  ')}${more}`);
  }
  for (const [name, t] of own) {
    const f = tensors.get(name);
    if (!f) continue;
    const r = module.resolve(name)!;
    const fresh = tensor(bytesToF32(f.bytes), f.shape, { device: t.device });
    if (r.kind === 'parameter') r.owner.setParameter(r.member, fresh);
    else r.owner.setBuffer(r.member, fresh);
  }
  return metadata;
}
