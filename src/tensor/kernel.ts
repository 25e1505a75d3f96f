/**
 * Kernel definitions: a kernel declares its buffers and uniforms and writes only index
 * math; `generateWGSL` emits the bindings, the uniform struct, array accessors and the
 * linear invocation index. Shapes travel in uniforms, never in the code, so one pipeline
 * serves every shape and the code itself is the pipeline's key (`kernelKey`).
 */
import { ArgumentError, InternalError } from './errors.js';
export type ScalarType = 'u32' | 'i32' | 'f32';

export interface UniformField {
  name: string;
  type: ScalarType;
  /** > 1 makes an array, read in WGSL with `u_<name>(i)`. */
  length?: number;
}

export interface BufferBinding {
  name: string;
  /**
   * WGSL element type; vec4 views need a byte size divisible by 4 elements. The f16 types are
   * not written in definitions: `halfVariant` derives them from f32 bindings bound to float16 tensors.
   */
  type?: 'f32' | 'vec4<f32>' | 'u32' | 'f16' | 'vec4<f16>';
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
  enable?: readonly ('subgroups' | 'f16')[];
  /**
   * The kernel may run on float16 tensors: any f32 / vec4<f32> binding may be bound to one
   * (Device.dispatch then runs `halfVariant` of the definition, which loads f16, computes in
   * f32 and stores f16). Set only where the op's host code sizes and offsets by the tensors'
   * itemSize and a test covers the float16 path; elsewhere a float16 argument is a
   * NotImplementedError naming the kernel.
   */
  halfStorage?: boolean;
}

export interface UniformLayout {
  /** Byte size, a multiple of 16. */
  size: number;
  offsets: Map<string, { offset: number; type: ScalarType; length: number }>;
}

export function binding(b: string | BufferBinding): Required<BufferBinding> {
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
  if (!def.enable?.includes('f16') && [...def.inputs, ...def.outputs].some((b) => binding(b).type.includes('f16'))) lines.push('enable f16;');
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

const halfVariants = new WeakMap<KernelDef, Map<string, KernelDef>>();

/**
 * The definition with the bindings flagged in `half` (inputs then outputs) as float16
 * storage: their element type becomes f16 / vec4<f16>, every load `b[i]` in the body and
 * helpers becomes `f32(b[i])` (vec4<f32>(…)), and every store `b[i] = v` (or `op=`) rounds
 * `v` to f16 — so all arithmetic, and every accumulator, stays f32. One definition per
 * kernel serves both types; the variant is made once per (definition, flags).
 */
export function halfVariant(def: KernelDef, half: readonly boolean[]): KernelDef {
  const all = [...def.inputs, ...def.outputs].map(binding);
  if (half.length !== all.length) throw new InternalError(`${def.name}: ${half.length} float16 flags for ${all.length} bindings`);
  const flag = half.map((h) => (h ? '1' : '0')).join('');
  let byDef = halfVariants.get(def);
  if (!byDef) halfVariants.set(def, (byDef = new Map()));
  const known = byDef.get(flag);
  if (known) return known;
  const converted = new Map<string, string>();
  const retype = (b: Required<BufferBinding>, i: number): Required<BufferBinding> => {
    if (!half[i]) return b;
    if (b.type !== 'f32' && b.type !== 'vec4<f32>') throw new InternalError(`${def.name}: binding ${b.name} of type ${b.type} cannot hold float16`);
    converted.set(b.name, b.type);
    return { name: b.name, type: b.type === 'f32' ? 'f16' : 'vec4<f16>' };
  };
  const bindings = all.map(retype);
  const rewrite = (code: string): string => rewriteHalfAccess(code, converted, def.name);
  const out: KernelDef = {
    ...def,
    inputs: bindings.slice(0, def.inputs.length),
    outputs: bindings.slice(def.inputs.length),
    body: rewrite(def.body),
    ...(def.helpers !== undefined ? { helpers: rewrite(def.helpers) } : {}),
    enable: [...(def.enable ?? []).filter((e) => e !== 'f16'), 'f16'],
  };
  byDef.set(flag, out);
  return out;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;

/** Index of the bracket closing the one at `open`. */
function closing(code: string, open: number, kernel: string): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === '[' || code[i] === '(') depth++;
    else if (code[i] === ']' || code[i] === ')') {
      if (--depth === 0) return i;
    }
  }
  throw new InternalError(`${kernel}: unbalanced brackets in WGSL while making its float16 variant`);
}

/** The assignment operator at i ('=', '+=', '-=', '*=', '/='), or null (`==` is a comparison). */
function assignmentAt(code: string, i: number): string | null {
  if (code[i] === '=' && code[i + 1] !== '=') return '=';
  if ('+-*/'.includes(code[i] ?? '_') && code[i + 1] === '=') return `${code[i]}=`;
  return null;
}

function skipSpace(code: string, i: number): number {
  while (i < code.length && /\s/.test(code[i]!)) i++;
  return i;
}

/** Loads of the converted bindings widened to f32, stores narrowed to f16 (see halfVariant). */
export function rewriteHalfAccess(code: string, converted: ReadonlyMap<string, string>, kernel: string): string {
  let out = '';
  let pos = 0;
  const re = new RegExp(IDENT.source, 'g');
  for (;;) {
    re.lastIndex = pos;
    const m = re.exec(code);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    const wide = converted.get(m[0]);
    const open = skipSpace(code, end);
    if (!wide || code[open] !== '[' || code[start - 1] === '.') {
      out += code.slice(pos, end);
      pos = end;
      continue;
    }
    if (code[start - 1] === '&') throw new InternalError(`${kernel}: a pointer to float16 binding ${m[0]} cannot be made f32; its float16 variant needs hand-written code`);
    const close = closing(code, open, kernel);
    const access = `${m[0]}[${rewriteHalfAccess(code.slice(open + 1, close), converted, kernel)}]`;
    const narrow = wide === 'f32' ? 'f16' : 'vec4<f16>';
    let k = skipSpace(code, close + 1);
    const op = assignmentAt(code, k);
    if (op) {
      const semi = statementEnd(code, k + op.length, kernel);
      const rhs = rewriteHalfAccess(code.slice(k + op.length, semi), converted, kernel).trim();
      const value = op === '=' ? rhs : `${wide}(${access}) ${op[0]} (${rhs})`;
      out += `${code.slice(pos, start)}${access} = ${narrow}(${value})`;
      pos = semi;
      continue;
    }
    // A component store (b[i].x = v, b[i][j] = v) cannot be narrowed by wrapping a value.
    if (code[k] === '.' || code[k] === '[') {
      const after = code[k] === '.' ? skipSpace(code, k + 1) + (/^[A-Za-z_][A-Za-z0-9_]*/.exec(code.slice(skipSpace(code, k + 1)))?.[0].length ?? 0) : closing(code, k, kernel) + 1;
      k = skipSpace(code, after);
      if (assignmentAt(code, k)) throw new InternalError(`${kernel}: a component store into float16 binding ${m[0]} is not supported by its float16 variant`);
    }
    out += `${code.slice(pos, start)}${wide}(${access})`;
    pos = close + 1;
  }
  return out + code.slice(pos);
}

function statementEnd(code: string, from: number, kernel: string): number {
  let depth = 0;
  for (let i = from; i < code.length; i++) {
    const c = code[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === ';' && depth === 0) return i;
  }
  throw new InternalError(`${kernel}: a store into a float16 binding has no terminating ';'`);
}
