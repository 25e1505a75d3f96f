import type { BufferArg } from '../tensor/device.js';
import type { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { ArgumentError, HnfnetError } from '../tensor/errors.js';

/** The binding of a tensor: its buffer, limited to the bytes it owns (from its offset, for a view). */
export function arg(t: Tensor): BufferArg {
  return { buffer: t.buffer, offset: t.byteOffset, bytes: Math.max(4, t.byteSize), dtype: t.dtype };
}

export function label(...ts: (Tensor | readonly number[])[]): string {
  return ts.map((t) => fmt(Array.isArray(t) ? (t as readonly number[]) : (t as Tensor).shape)).join(' ');
}

export function sameDevice(op: string, ...ts: Tensor[]): void {
  const d = ts[0]!.device;
  for (const t of ts) if (t.device !== d) throw new HnfnetError(`${op}: tensors live on different devices`);
}

/** Inputs of one op share a dtype (float16 inference casts its input and parameters together). */
export function sameDtype(op: string, ...ts: Tensor[]): void {
  const d = ts[0]!.dtype;
  for (const t of ts) {
    if (t.dtype !== d) throw new ArgumentError(`${op}: tensors of dtypes ${[...new Set(ts.map((x) => x.dtype))].join(' and ')}; convert one with .to(dtype)`);
  }
}
