import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mul, randn, tensor, type Tensor } from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../../src/nn/safetensors.js';
import { loadStateDict, saveStateDict, StateDictError } from '../../src/nn/state-dict.js';
import { getDevice } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

class Scale extends Module {
  constructor(n: number, seed: number) {
    super();
    this.registerParameter('weight', randn([n], { seed }));
    this.registerBuffer('running', randn([2, n], { seed: seed + 1 }));
  }
  forward(x: Tensor): Tensor {
    return mul(x, this.namedParameters()[0]![1]);
  }
}

class Net extends Module {
  constructor(seed: number, width = 3) {
    super();
    this.registerModule('first', new Scale(width, seed));
    this.registerModule('second', new Scale(width, seed + 10));
  }
  forward(x: Tensor): Tensor {
    const [a, b] = this.namedChildren().map(([, m]) => m as Scale);
    const h = a!.call(x);
    const y = b!.call(h);
    h.dispose();
    return y;
  }
}

describe('Module', () => {
  it('dotted names for parameters and buffers, train/eval propagate', () => {
    const n = new Net(1);
    expect(n.namedParameters().map(([k]) => k)).toEqual(['first.weight', 'second.weight']);
    expect(n.namedBuffers().map(([k]) => k)).toEqual(['first.running', 'second.running']);
    expect([...n.stateDict().keys()]).toEqual(['first.weight', 'second.weight', 'first.running', 'second.running']);
    expect(n.parameterCount()).toBe(6);
    n.eval();
    expect(n.namedModules().every(([, m]) => !m.training)).toBe(true);
    n.train();
    expect(n.namedModules().every(([, m]) => m.training)).toBe(true);
    expect(n.parameters().every((p) => p.requiresGrad)).toBe(true);
  });
});

describe('safetensors state dict', () => {
  it('round trip: a fresh model with another seed computes the same after loading', async () => {
    const a = new Net(1);
    const b = new Net(99);
    const bytes = await saveStateDict(a, { preset: 'test' });
    const meta = loadStateDict(b, bytes);
    expect(meta).toEqual({ preset: 'test' });
    const x = tensor([1, 2, 3], [3]);
    expect(Array.from(await b.call(x).data())).toEqual(Array.from(await a.call(x).data()));
    for (const [name, t] of a.stateDict()) expect(Array.from(await b.stateDict().get(name)!.data())).toEqual(Array.from(await t.data()));
  });

  it('loads from a Node Buffer (a view into a shared pool) as from a plain array', async () => {
    const a = new Net(5);
    const bytes = await saveStateDict(a);
    const pooled = Buffer.concat([Buffer.from('padding'), Buffer.from(bytes)]).subarray(7);
    const b = new Net(6);
    loadStateDict(b, pooled);
    for (const [name, t] of a.stateDict()) expect(Array.from(await b.stateDict().get(name)!.data())).toEqual(Array.from(await t.data()));
  });

  it('a file that does not fit reports every mismatch at once and changes nothing', async () => {
    const wide = new Net(1, 4);
    const narrow = new Net(2, 3);
    const before = Array.from(await narrow.stateDict().get('first.weight')!.data());
    const bytes = await saveStateDict(wide);
    const err = (() => {
      try {
        loadStateDict(narrow, bytes, { source: 'wide.safetensors' });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(StateDictError);
    expect(err!.message).toMatch(/wide\.safetensors does not fit the model \(4 problems\)/);
    expect(err!.message).toMatch(/first\.weight: shape \[4\] in file, model has \[3\]/);
    expect(err!.message).toMatch(/second\.running: shape \[2, 4\] in file, model has \[2, 3\]/);
    expect(Array.from(await narrow.stateDict().get('first.weight')!.data())).toEqual(before);
  });

  it('missing and unexpected names, wrong dtypes, truncated files', async () => {
    const net = new Net(1);
    const entries = decodeSafetensors(await saveStateDict(net)).tensors;
    entries.delete('second.weight');
    entries.set('extra.bias', { dtype: 'F32', shape: [1], bytes: new Uint8Array(4) });
    entries.set('first.weight', { dtype: 'F16', shape: [3], bytes: new Uint8Array(6) });
    const bad = encodeSafetensors(entries);
    expect(() => loadStateDict(net, bad)).toThrow(/3 problems/);
    expect(() => loadStateDict(net, bad)).toThrow(/missing in file: second\.weight \[3\]/);
    expect(() => loadStateDict(net, bad)).toThrow(/first\.weight: dtype F16 in file, model needs F32/);
    expect(() => loadStateDict(net, bad)).toThrow(/unexpected in file: extra\.bias/);
    // non-strict loading ignores missing and unexpected names but not wrong dtypes
    entries.set('first.weight', { dtype: 'F32', shape: [3], bytes: new Uint8Array(12) });
    expect(() => loadStateDict(net, encodeSafetensors(entries), { strict: false })).not.toThrow();
    const good = await saveStateDict(net);
    expect(() => loadStateDict(net, good.slice(0, good.length - 5), { source: 'cut.safetensors' })).toThrow(SafetensorsError);
    expect(() => loadStateDict(net, good.slice(0, good.length - 5), { source: 'cut.safetensors' })).toThrow(/cut\.safetensors: .* \(file truncated\)/);
    expect(() => decodeSafetensors(good.slice(0, 5), 'tiny.safetensors')).toThrow(/too short/);
  });

  it('the file follows the format as an independent reader sees it (Python stdlib)', async () => {
    const py = '/usr/bin/python3';
    if (!existsSync(py)) return expect.soft(true, 'no /usr/bin/python3 here').toBe(true);
    const net = new Net(3);
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-st-'));
    const file = join(dir, 'w.safetensors');
    writeFileSync(file, await saveStateDict(net));
    const script = `
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8+n])
assert (8 + n) % 8 == 0
out = {}
for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    out[k] = [v['dtype'], v['shape'], list(struct.unpack('<%df' % ((e - s) // 4), b[8+n+s:8+n+e]))]
print(json.dumps(out))
`;
    const r = spawnSync(py, ['-c', script, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as Record<string, [string, number[], number[]]>;
    for (const [name, t] of net.stateDict()) {
      const [dtype, shape, values] = seen[name]!;
      expect(dtype).toBe('F32');
      expect(shape).toEqual(t.shape);
      expect(values).toEqual(Array.from(await t.data()));
    }
  });
});
