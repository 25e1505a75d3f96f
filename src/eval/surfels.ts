import type { Spacing3 } from './masks.js';
import { ArgumentError } from '../tensor/errors.js';

/**
 * Surface elements ("surfels") at voxel corners, as the surface-distance method of BraTS 2023
 * (its `surface_distance` package) defines them. A corner's neighbour code has one bit per
 * voxel of the 2×2×2 block around it; a code other than 0 and 255 is a surface corner, and it
 * stands for the marching-cubes triangles of that block, weighted by their total area.
 *
 * Code bits, for the voxel at offset (ox, oy, oz) ∈ {0, 1}³ from the corner's block origin,
 * x being the fastest (W) axis: bit 7 − (4·ox + 2·oy + oz).
 *
 * TRIANGLES holds, for codes 0..127, the absolute x, y, z components of each triangle's
 * area-weighted normal in eighths (digits 0..4), in the order of the reference lookup table
 * (those numbers are the reference's: its table is the definition). Code 255 − c has the same
 * triangles as c. Only absolute values matter: a normal's area under spacing (sx, sy, sz) is
 * |(nx·sy·sz, ny·sx·sz, nz·sx·sy)|.
 */
const TRIANGLES: readonly string[] = [
  '', '111', '111', '220 220', '111', '202 202', '111 111', '400 222 111',
  '111', '111 111', '202 202', '400 222 111', '220 220', '400 222 111', '400 222 111', '400 400',
  '111', '022 022', '111 111', '040 222 111', '111 111', '004 222 111', '111 111 111', '111 222 222 111',
  '111 111', '022 022 111', '202 202 111', '111 333 022 202', '111 220 220', '333 022 111 220', '400 111 222 111', '400 111 222',
  '111', '111 111', '022 022', '040 111 222', '111 111', '111 202 202', '022 022 111', '333 022 111 202',
  '111 111', '111 111 111', '004 222 111', '222 222 111 111', '111 220 220', '400 222 111 111', '022 333 111 220', '400 222 111',
  '220 220', '040 222 111', '040 111 222', '040 040', '220 220 111', '333 202 111 220', '111 040 222 111', '040 222 111',
  '111 220 220', '040 222 111 111', '333 220 111 202', '040 222 111', '220 220 220 220', '220 220 111', '111 220 220', '220 220',
  '111', '111 111', '111 111', '111 220 220', '022 022', '004 222 111', '022 022 111', '333 022 111 220',
  '111 111', '111 111 111', '111 202 202', '400 222 111 111', '040 222 111', '222 222 111 111', '202 333 022 111', '400 222 111',
  '202 202', '004 222 111', '111 202 202', '202 333 220 111', '004 222 111', '004 004', '111 111 222 004', '111 222 004',
  '202 202 111', '004 222 111 111', '202 202 202 202', '111 202 202', '202 333 220 111', '004 222 111', '111 202 202', '202 202',
  '111 111', '111 111 111', '111 022 022', '040 111 222 111', '022 022 111', '004 222 111 111', '022 022 022 022', '022 022 111',
  '111 111 111', '111 111 111 111', '004 222 111 111', '111 111 111', '040 222 111 111', '111 111 111', '022 022 111', '111 111',
  '400 222 111', '222 111 222 111', '333 022 111 202', '040 222 111', '333 220 022 111', '111 222 004', '111 022 022', '022 022',
  '400 222 111 111', '111 111 111', '202 202 111', '111 111', '220 220 111', '111 111', '111 111', '111',
];

/** The 8-bit code's triangles as [|nx|, |ny|, |nz|] in units of 1/8. */
export function surfelNormals(code: number): [number, number, number][] {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new ArgumentError(`surfel code must be an integer in [0, 255], got ${code}`);
  const s = TRIANGLES[code < 128 ? code : 255 - code]!;
  if (s === '') return [];
  return s.split(' ').map((t) => [Number(t[0]), Number(t[1]), Number(t[2])]);
}

/**
 * Area in mm² of the surfel of every code under `spacing` ([sd, sh, sw] = [sz, sy, sx] mm),
 * summed triangle by triangle in table order with the reference's operation order, so that
 * areas agree to the last bit.
 */
export function surfelAreas(spacing: Spacing3): Float64Array {
  const [sz, sy, sx] = spacing;
  const out = new Float64Array(256);
  for (let code = 0; code < 256; code++) {
    let sum = 0;
    for (const [nx, ny, nz] of surfelNormals(code)) {
      const a = (nx / 8) * sy * sz;
      const b = (ny / 8) * sx * sz;
      const c = (nz / 8) * sx * sy;
      sum += Math.sqrt(a * a + b * b + c * c);
    }
    out[code] = sum;
  }
  return out;
}
