/**
 * Kernel definitions: a kernel declares its buffers and uniforms and writes only index
 * math; `generateWGSL` emits the bindings, the uniform struct, array accessors and the
 * linear invocation index. Shapes travel in uniforms, never in the code, so one pipeline
 * serves every shape and the code itself is the pipeline's key (`kernelKey`).
 */
import { ArgumentError } from './errors.js';
export type ScalarType = 'u32' | 'i32' | 'f32';

export interface UniformField {
  name: string;
  type: ScalarType;
  /** > 1 makes an array, read in WGSL with `u_<name>(i)`. */
  length?: number;
}

export interface BufferBinding {
  name: string;
  /** WGSL element type; vec4<f32> views need a byte size divisible by 16. */
  type?: 'f32' | 'vec4<f32>' | 'u32';
}

export interface KernelDef {
  /** Op name, used in error messages and profiles. */
  name: string;
  inputs: readonly (string | BufferBinding)[];
  outputs: readonly (string | BufferBinding)[];
  uniforms: readonly UniformField[];
  /** Workgroup size; a number means [n, 1, 1]. */
  workgroupSize: number | readonly [number, number, number];
  /** WGSL statements of `main`. In scope: `gid`, `lid`, `wid`, `nwg` (vec3<u32>) and `idx`, the linear invocation index of a 1-D launch. */
  body: string;
  /** Extra WGSL (functions, constants, workgroup variables) placed before `main`. */
  helpers?: string;
  /**
   * WGSL extensions the kernel uses; the device must have the matching feature (a kernel
   * that needs one is only offered where `device.features` has it). With 'subgroups',
   * `sgid` (subgroup_invocation_id) and `sgsize` (subgroup_size) are also in scope.
   */
  enable?: readonly 'subgroups'[];
}

export interface UniformLayout {
  /** Byte size, a multiple of 16. */
  size: number;
  offsets: Map<string, { offset: number; type: ScalarType; length: number }>;
}

function binding(b: string | BufferBinding): Required<BufferBinding> {
  return typeof b === 'string' ? { name: b, type: 'f32' } : { name: b.name, type: b.type ?? 'f32' };
}

/** Scalars first, then arrays of vec4 (16-byte aligned), which is also the WGSL struct order. */
export function uniformLayout(fields: readonly UniformField[]): UniformLayout {
  const offsets = new Map<string, { offset: number; type: ScalarType; length: number }>();
  let off = 0;
  for (const f of fields) {
    if ((f.length ?? 1) > 1) continue;
    offsets.set(f.name, { offset: off, type: f.type, length: 1 });
    off += 4;
  }
  for (const f of fields) {
    const len = f.length ?? 1;
    if (len <= 1) continue;
    off = Math.ceil(off / 16) * 16;
    offsets.set(f.name, { offset: off, type: f.type, length: len });
    off += Math.ceil(len / 4) * 16;
  }
  return { size: Math.max(16, Math.ceil(off / 16) * 16), offsets };
}

export type UniformValues = Record<string, number | readonly number[]>;

export function packUniforms(layout: UniformLayout, values: UniformValues, kernel: string): ArrayBuffer {
  const buf = new ArrayBuffer(layout.size);
  const dv = new DataView(buf);
  for (const [name, { offset, type, length }] of layout.offsets) {
    const v = values[name];
    if (v === undefined) throw new ArgumentError(`kernel ${kernel}: uniform "${name}" not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length > length) throw new ArgumentError(`kernel ${kernel}: uniform "${name}" has ${arr.length} values, room for ${length}`);
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i]!;
      const o = offset + (length > 1 ? Math.floor(i / 4) * 16 + (i % 4) * 4 : 0);
      if (type === 'f32') dv.setFloat32(o, x, true);
      else if (type === 'i32') dv.setInt32(o, x, true);
      else {
        if (x < 0 || !Number.isInteger(x) || x > 0xffffffff) throw new ArgumentError(`kernel ${kernel}: uniform "${name}" = ${x} is not a u32`);
        dv.setUint32(o, x, true);
      }
    }
  }
  return buf;
}

export function workgroupDims(def: KernelDef): [number, number, number] {
  const w = def.workgroupSize;
  return typeof w === 'number' ? [w, 1, 1] : [w[0], w[1], w[2]];
}

export function generateWGSL(def: KernelDef): string {
  const lines: string[] = (def.enable ?? []).map((e) => `enable ${e};`);
  const subgroups = def.enable?.includes('subgroups') ?? false;
  const layout = uniformLayout(def.uniforms);
  const hasUniforms = def.uniforms.length > 0;
  let slot = 0;
  for (const b of def.inputs.map(binding)) {
    lines.push(`@group(0) @binding(${slot++}) var<storage, read> ${b.name}: array<${b.type}>;`);
  }
  for (const b of def.outputs.map(binding)) {
    lines.push(`@group(0) @binding(${slot++}) var<storage, read_write> ${b.name}: array<${b.type}>;`);
  }
  if (hasUniforms) {
    const fields: string[] = [];
    const sorted = [...layout.offsets.entries()].sort((a, b) => a[1].offset - b[1].offset);
    for (const [name, f] of sorted) {
      fields.push(f.length > 1 ? `  ${name}: array<vec4<${f.type}>, ${Math.ceil(f.length / 4)}>,` : `  ${name}: ${f.type},`);
    }
    lines.push(`struct Uniforms {\n${fields.join('\n')}\n};`);
    lines.push(`@group(0) @binding(${slot++}) var<uniform> u: Uniforms;`);
    for (const [name, f] of sorted) {
      if (f.length > 1) lines.push(`fn u_${name}(i: u32) -> ${f.type} { return u.${name}[i / 4u][i % 4u]; }`);
    }
  }
  if (def.helpers) lines.push(def.helpers);
  const [x, y, z] = workgroupDims(def);
  lines.push(`@compute @workgroup_size(${x}, ${y}, ${z})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${subgroups ? ',\n        @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_size) sgsize: u32' : ''}) {
  let idx = (wid.z * nwg.y * nwg.x + wid.y * nwg.x + wid.x) * ${x * y * z}u + lid.z * ${x * y}u + lid.y * ${x}u + lid.x;
${def.body}
}`);
  return lines.join('\n');
}

export function bindingCount(def: KernelDef): number {
  return def.inputs.length + def.outputs.length;
}

const keys = new WeakMap<KernelDef, string>();

/**
 * A definition's stable key: its generated WGSL, made once per definition object. Two
 * definitions with the same code share the key (and so one pipeline). Definitions are
 * treated as immutable once dispatched.
 */
export function kernelKey(def: KernelDef): string {
  let k = keys.get(def);
  if (k === undefined) {
    k = generateWGSL(def);
    keys.set(def, k);
  }
  return k;
}
