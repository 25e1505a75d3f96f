import { backward } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { mul } from '../kernels/broadcast.js';
import { sum } from '../kernels/reduce.js';
import { add } from '../kernels/broadcast.js';
import type { ConformanceCase, TensorJSON } from './case.js';
import { conformanceOps } from './ops.js';
import { CaseFormatError } from './case.js';

export interface CaseResult {
  name: string;
  op: string;
  status: 'pass' | 'fail' | 'skip' | 'error';
  /** Largest |got − want| over every output and gradient compared. */
  maxAbsErr: number;
  /** What failed: the first tensor out of tolerance, or the error message. */
  detail?: string;
}

interface Compared {
  maxAbs: number;
  worst: string | null;
}

/** |got − want| ≤ atol + rtol·|want| element-wise, and exact shape equality. */
export function compare(what: string, got: Float32Array, gotShape: readonly number[], want: TensorJSON, tol: { rtol: number; atol: number }): Compared {
  if (gotShape.length !== want.shape.length || gotShape.some((d, i) => d !== want.shape[i])) {
    return { maxAbs: Infinity, worst: `${what}: shape [${gotShape.join(', ')}], expected [${want.shape.join(', ')}]` };
  }
  let maxAbs = 0;
  let worst: string | null = null;
  for (let i = 0; i < got.length; i++) {
    const w = want.data[i]!;
    const g = got[i]!;
    const err = Math.abs(g - w);
    const bad = Number.isNaN(w) ? !Number.isNaN(g) : !(err <= tol.atol + tol.rtol * Math.abs(w));
    if (!Number.isNaN(err) && err > maxAbs) maxAbs = err;
    if (bad && worst === null) worst = `${what}[${i}] = ${g}, expected ${w}`;
    if (Number.isNaN(err) && !Number.isNaN(w)) maxAbs = Infinity;
  }
  return { maxAbs, worst };
}

export async function runCase(c: ConformanceCase, device: Device): Promise<CaseResult> {
  const fn = conformanceOps[c.op];
  if (!fn) return { name: c.name, op: c.op, status: 'skip', maxAbsErr: 0, detail: `op "${c.op}" is not implemented` };
  const made: Tensor[] = [];
  try {
    const inputs: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(c.inputs)) {
      const x = tensor(t.data, t.shape, { device, requiresGrad: !!c.grads && name in c.grads });
      inputs[name] = x;
      made.push(x);
    }
    const outputs = await fn(inputs, c.attrs);
    made.push(...Object.values(outputs));
    let maxAbs = 0;
    const failures: string[] = [];
    for (const [name, want] of Object.entries(c.outputs)) {
      const got = outputs[name];
      if (!got) {
        failures.push(`output "${name}" not produced`);
        continue;
      }
      const r = compare(name, await got.data(), got.shape, want, c.tol);
      maxAbs = Math.max(maxAbs, r.maxAbs);
      if (r.worst) failures.push(r.worst);
    }
    if (c.upstream && c.grads) {
      const ys = Object.keys(c.upstream).map((name) => {
        const y = outputs[name];
        if (!y) throw new CaseFormatError(`upstream names output "${name}", which the op did not produce`);
        return y;
      });
      const ups = Object.values(c.upstream).map((u) => tensor(u.data, u.shape, { device }));
      made.push(...ups);
      if (ys.length === 1) backward(ys[0]!, ups[0]!);
      else {
        // Several outputs: the gradient of Σ⟨y_i, upstream_i⟩ feeds each upstream at once.
        const total = tidy(() => ys.map((y, i) => sum(mul(y, ups[i]!))).reduce((a, b) => add(a, b)));
        made.push(total);
        backward(total);
      }
      for (const [name, want] of Object.entries(c.grads)) {
        const g = inputs[name]?.grad;
        if (!g) {
          failures.push(`no gradient reached input "${name}"`);
          continue;
        }
        const r = compare(`grad ${name}`, await g.data(), g.shape, want, c.tol);
        maxAbs = Math.max(maxAbs, r.maxAbs);
        if (r.worst) failures.push(r.worst);
      }
    }
    return { name: c.name, op: c.op, status: failures.length ? 'fail' : 'pass', maxAbsErr: maxAbs, ...(failures.length ? { detail: failures.join('; ') } : {}) };
  } catch (e) {
    return { name: c.name, op: c.op, status: 'error', maxAbsErr: Infinity, detail: e instanceof Error ? e.message : String(e) };
  } finally {
    for (const t of made) {
      t.zeroGrad();
      t.dispose();
    }
  }
}
