import { describe, expect, it } from 'vitest';
import { hd95 } from '../../src/eval/index.js';
import { ball } from './reference.js';
import type { S3 } from './reference.js';

// Times HD95 on BraTS-sized volumes and prints it; nothing here asserts speed, because shared
// CI machines are too noisy for that. The values are checked against an analytic bound.
describe('hd95 at 240×240×155', () => {
  const shape: S3 = [155, 240, 240];

  it('runs on two offset spheres and prints its time', () => {
    const a = ball(shape, [77, 120, 120], 30);
    const b = ball(shape, [80, 118, 124], 33);
    const t0 = performance.now();
    const v = hd95(a, b, shape, [1, 1, 1]);
    const ms = performance.now() - t0;
    console.log(`hd95 240×240×155, spheres r=30/33 (centres 5.4 voxels apart): ${v.toFixed(4)} mm in ${ms.toFixed(0)} ms`);
    // Surface voxels lie within a voxel of their sphere, and two spheres' surfaces are at most
    // |c1 − c2| + |r1 − r2| apart, so every pooled distance is below 5.39 + 3 + 2.
    expect(v).toBeGreaterThan(0);
    expect(v).toBeLessThan(Math.hypot(3, 2, 4) + 3 + 2);
  });

  it('runs on spheres spanning most of the volume and prints its time', () => {
    const a = ball(shape, [77, 120, 120], 75);
    const b = ball(shape, [77, 120, 121], 70);
    const t0 = performance.now();
    const v = hd95(a, b, shape, [1, 1, 1]);
    const ms = performance.now() - t0;
    console.log(`hd95 240×240×155, spheres r=75/70: ${v.toFixed(4)} mm in ${ms.toFixed(0)} ms`);
    expect(v).toBeGreaterThan(3);
    expect(v).toBeLessThan(1 + 5 + 2);
  });
});
