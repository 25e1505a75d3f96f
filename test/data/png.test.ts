import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../../src/data/png.js';

describe('encodePng', () => {
  it('an independent decoder (Python zlib, CRCs checked) reads back every pixel', () => {
    const w = 7;
    const h = 5;
    const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 37) % 256);
    const png = encodePng(rgba, w, h);
    const py = '/usr/bin/python3';
    if (!existsSync(py)) return;
    const file = join(mkdtempSync(join(tmpdir(), 'png-')), 'x.png');
    writeFileSync(file, png);
    const script = `
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == bytes([137, 80, 78, 71, 13, 10, 26, 10])
p, idat, hdr = 8, b'', None
while p < len(b):
    n = struct.unpack('>I', b[p:p+4])[0]; t = b[p+4:p+8]; d = b[p+8:p+8+n]
    assert struct.unpack('>I', b[p+8+n:p+12+n])[0] == zlib.crc32(t + d) & 0xffffffff, t
    if t == b'IHDR': hdr = struct.unpack('>IIBBBBB', d)
    if t == b'IDAT': idat += d
    p += 12 + n
w, h = hdr[0], hdr[1]
raw = zlib.decompress(idat)
rows = [raw[y*(1+4*w)+1:(y+1)*(1+4*w)] for y in range(h)]
assert all(raw[y*(1+4*w)] == 0 for y in range(h))
print(w, h, ','.join(str(v) for v in b''.join(rows)))
`;
    const r = spawnSync(py, ['-c', script, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [pw, ph, px] = r.stdout.trim().split(' ');
    expect([Number(pw), Number(ph)]).toEqual([w, h]);
    expect(px!.split(',').map(Number)).toEqual(Array.from(rgba));
  });

  it('rejects a buffer of the wrong size', () => {
    expect(() => encodePng(new Uint8Array(10), 2, 2)).toThrow(/10 bytes for 2×2 RGBA/);
  });
});
