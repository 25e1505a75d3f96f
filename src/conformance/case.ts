import { HnfnetError } from '../tensor/errors.js';
import { numel } from '../tensor/shape.js';

/** One conformance case, as documented in shared/conformance/SCHEMA.md. */
export interface TensorJSON {
  shape: number[];
  data: number[];
}

export interface ConformanceCase {
  name: string;
  op: string;
  attrs: Record<string, unknown>;
  inputs: Record<string, TensorJSON>;
  outputs: Record<string, TensorJSON>;
  upstream?: Record<string, TensorJSON>;
  grads?: Record<string, TensorJSON>;
  tol: { rtol: number; atol: number };
}

export class CaseFormatError extends HnfnetError {
  override name = 'CaseFormatError';
  override readonly code = 'CASE_FORMAT';
}

function checkTensor(v: unknown, where: string): TensorJSON {
  if (!v || typeof v !== 'object') throw new CaseFormatError(`${where}: expected {"shape", "data"}`);
  const t = v as Partial<TensorJSON>;
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new CaseFormatError(`${where}: "shape" must be a list of non-negative integers`);
  // A 0-d tensor may also be written with a bare number as data.
  const data = typeof t.data === 'number' ? [t.data] : t.data;
  if (!Array.isArray(data)) throw new CaseFormatError(`${where}: "data" must be a list of numbers`);
  if (data.length !== numel(t.shape)) throw new CaseFormatError(`${where}: ${data.length} values for shape [${t.shape.join(', ')}] (${numel(t.shape)} expected)`);
  return { shape: t.shape, data: data.map((x) => (x === null ? NaN : Number(x))) };
}

function checkMap(v: unknown, where: string, required: boolean): Record<string, TensorJSON> | undefined {
  if (v === undefined && !required) return undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CaseFormatError(`${where}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(v).map(([k, t]) => [k, checkTensor(t, `${where}.${k}`)]));
}

/** Validates parsed JSON against the schema; `source` names the file in errors. */
export function parseCase(json: unknown, source: string): ConformanceCase {
  if (!json || typeof json !== 'object') throw new CaseFormatError(`${source}: not a JSON object`);
  const c = json as Record<string, unknown>;
  if (typeof c.op !== 'string') throw new CaseFormatError(`${source}: missing "op"`);
  const tol = (c.tol ?? {}) as { rtol?: unknown; atol?: unknown };
  const rtol = typeof tol.rtol === 'number' ? tol.rtol : 1e-4;
  const atol = typeof tol.atol === 'number' ? tol.atol : 1e-4;
  const upstream = checkMap(c.upstream, `${source} upstream`, false);
  const grads = checkMap(c.grads, `${source} grads`, false);
  if ((upstream === undefined) !== (grads === undefined)) throw new CaseFormatError(`${source}: "upstream" and "grads" come together`);
  return {
    name: typeof c.name === 'string' ? c.name : source,
    op: c.op,
    attrs: (c.attrs && typeof c.attrs === 'object' ? c.attrs : {}) as Record<string, unknown>,
    inputs: checkMap(c.inputs, `${source} inputs`, true)!,
    outputs: checkMap(c.outputs, `${source} outputs`, true)!,
    ...(upstream ? { upstream } : {}),
    ...(grads ? { grads } : {}),
    tol: { rtol, atol },
  };
}

// ---- attribute readers: errors name the case and the attribute -------------------------

export function attrNumber(attrs: Record<string, unknown>, name: string, dflt?: number): number {
  const v = attrs[name];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number') throw new CaseFormatError(`attribute "${name}" must be a number`);
  return v;
}

export function attrBool(attrs: Record<string, unknown>, name: string, dflt?: boolean): boolean {
  const v = attrs[name];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'boolean') throw new CaseFormatError(`attribute "${name}" must be true or false`);
  return v;
}

export function attrString(attrs: Record<string, unknown>, name: string, dflt?: string): string {
  const v = attrs[name];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string') throw new CaseFormatError(`attribute "${name}" must be a string`);
  return v;
}

/** A list of numbers; a single number is repeated `n` times (PyTorch's int-or-tuple). */
export function attrList(attrs: Record<string, unknown>, name: string, n: number, dflt?: number[]): number[] {
  const v = attrs[name];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v === 'number') return new Array<number>(n).fill(v);
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number')) throw new CaseFormatError(`attribute "${name}" must be a number or a list of ${n} numbers`);
  return v as number[];
}
