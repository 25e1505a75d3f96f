import type { BufferArg, Device } from './device.js';
import type { KernelDef, UniformValues } from './kernel.js';
import type { Tensor } from './tensor.js';
import { fmt } from './shape.js';
import { InternalError } from './errors.js';

/**
 * Binding in ranges. A tensor is one buffer of up to maxBufferSize bytes; a kernel binds a
 * byte range of it at an offset that is a multiple of minStorageBufferOffsetAlignment and
 * no longer than maxStorageBufferBindingSize. These helpers cut work into such ranges.
 */

/**
 * Elements one binding may hold, rounded down so that a run of them starts aligned: with
 * `item` the largest element size of the tensors bound together and `minItem` the smallest,
 * a multiple of this count is a multiple of the alignment in bytes for each of them.
 */
export function bindingElems(device: Device, item = 4, minItem = item): number {
  const unit = device.limits.minStorageBufferOffsetAlignment / minItem;
  return Math.floor(device.limits.maxStorageBufferBindingSize / (item * unit)) * unit;
}

/** [start, count) element ranges covering [0, n), each one binding long at most (starts aligned when t's offset is). */
export function elementRanges(device: Device, n: number, maxElems = bindingElems(device)): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += maxElems) out.push([s, Math.min(maxElems, n - s)]);
  return out;
}

/** The binding of elements [start, start + count) of t; the offset must come out aligned. */
export function rangeArg(t: Tensor, start: number, count: number): BufferArg {
  return { buffer: t.buffer, offset: t.byteOffset + start * t.itemSize, bytes: Math.max(4, count * t.itemSize), dtype: t.dtype };
}

/**
 * Runs a kernel whose every binding is indexed by the invocation index alone (y[i] = f(a[i], …))
 * over aligned ranges of at most one binding each. The kernel reads the range's length in
 * units of `vec` elements (its vector width; n must be divisible by it) as `u.n`.
 * The outputs and the first input set n; an input of another size (a scalar read at
 * index 0, say) is bound whole in every range.
 */
export function dispatchElementwise(def: KernelDef, inputs: readonly Tensor[], outputs: readonly Tensor[], uniforms: UniformValues, label: string, vec = 1): void {
  const all = [...inputs, ...outputs];
  const device = all[0]!.device;
  const n = all[0]!.size;
  for (const t of outputs) {
    if (t.size !== n) throw new InternalError(`${def.name}: elementwise bindings of ${n} and ${t.size} elements (${fmt(t.shape)})`);
  }
  const bind = (t: Tensor, start: number, count: number): BufferArg => (t.size === n ? rangeArg(t, start, count) : rangeArg(t, 0, t.size));
  const items = all.map((t) => t.itemSize);
  const item = Math.max(...items);
  const ranges = n * item <= device.limits.maxStorageBufferBindingSize ? [[0, n] as [number, number]] : elementRanges(device, n, bindingElems(device, item, Math.min(...items)));
  for (const [start, count] of ranges) {
    device.dispatch(def, {
      inputs: inputs.map((t) => bind(t, start, count)),
      outputs: outputs.map((t) => rangeArg(t, start, count)),
      uniforms: { ...uniforms, n: count / vec },
      invocations: count / vec,
      label: ranges.length > 1 ? `${label} elements [${start}, ${start + count})` : label,
    });
  }
}

/**
 * Copies `count` elements of src from element `srcStart` into dst from `dstStart`: an
 * encoder copy, which binds nothing and so has no size limit, where the run is whole 4-byte
 * words (always for float32); a float16 run at an odd offset or of odd length, which no
 * encoder copy can move, goes through a copy kernel instead.
 */
export function copyElements(src: Tensor, srcStart: number, dst: Tensor, dstStart: number, count: number): void {
  if (src.dtype !== dst.dtype) throw new InternalError(`copy of ${src.dtype} ${fmt(src.shape)} into ${dst.dtype} ${fmt(dst.shape)}`);
  if (count === 0) return;
  const item = src.itemSize;
  const from = src.byteOffset + srcStart * item;
  const to = dst.byteOffset + dstStart * item;
  const bytes = count * item;
  if (from % 4 === 0 && to % 4 === 0 && bytes % 4 === 0) src.device.copy(src.buffer, from, dst.buffer, to, bytes);
  else kernelCopy(src, srcStart, dst, dstStart, count);
}

const copyKernel: KernelDef = {
  name: 'copy_elements',
  inputs: ['src'],
  outputs: ['dst'],
  uniforms: ['so', 'dof', 'n'].map((name) => ({ name, type: 'i32' as const })),
  workgroupSize: 64,
  body: `  let i = i32(idx);
  if (i >= u.n) { return; }
  dst[u.dof + i] = src[u.so + i];`,
  halfStorage: true,
};

/** The aligned binding that holds elements [start, start + count) of t, and where they start in it. */
function window(t: Tensor, start: number, count: number): { arg: BufferArg; lead: number } {
  const align = t.device.limits.minStorageBufferOffsetAlignment;
  const at = t.byteOffset + start * t.itemSize;
  const base = Math.floor(at / align) * align;
  const lead = (at - base) / t.itemSize;
  const bytes = Math.ceil(((lead + count) * t.itemSize) / 4) * 4;
  return { arg: { buffer: t.buffer, offset: base, bytes, dtype: t.dtype }, lead };
}

function kernelCopy(src: Tensor, srcStart: number, dst: Tensor, dstStart: number, count: number): void {
  const device = src.device;
  // Each window starts up to one alignment before its run: leave room for that in a binding.
  const per = bindingElems(device, src.itemSize) - device.limits.minStorageBufferOffsetAlignment / src.itemSize;
  for (let s = 0; s < count; s += per) {
    const n = Math.min(per, count - s);
    const a = window(src, srcStart + s, n);
    const b = window(dst, dstStart + s, n);
    device.dispatch(copyKernel, {
      inputs: [a.arg],
      outputs: [b.arg],
      uniforms: { so: a.lead, dof: b.lead, n },
      invocations: n,
      label: `${n} ${src.dtype} elements from element ${srcStart + s} of ${fmt(src.shape)} to element ${dstStart + s} of ${fmt(dst.shape)}`,
    });
  }
}
