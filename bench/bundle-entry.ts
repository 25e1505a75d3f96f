/**
 * The entry of the portable GPU bundle (`npm run bench:bundle`, scripts/bench-bundle.ts): the
 * cases of bench/cases/ listed here (a bundle cannot list a folder), less the peers that need
 * npm packages the bundle leaves out (TF.js, onnxruntime-node). Results go to ./results, or --out.
 */
import { join } from 'node:path';
import type { BenchCase } from './types.js';
import { main } from './harness.js';
import * as conv3d from './cases/conv3d.js';
import * as conv3dF16 from './cases/conv3d-f16.js';
import * as conv3dPeers from './cases/conv3d-peers.js';
import * as conv3dTorch from './cases/conv3d-torch.js';
import * as conv3dTuned from './cases/conv3d-tuned.js';
import * as dispatch from './cases/dispatch.js';
import * as elementwise from './cases/elementwise.js';
import * as emLossAdam from './cases/em-loss-adam.js';
import * as instanceNorm from './cases/instance-norm.js';
import * as kernels3d from './cases/kernels3d.js';
import * as matmul from './cases/matmul.js';
import * as model from './cases/model.js';
import * as paper from './cases/paper.js';

/** Every module of bench/cases/ (test/bench/bundle.test.ts checks that none is missing). */
export const CASE_MODULES: Record<string, { cases: BenchCase[] }> = {
  conv3d,
  'conv3d-f16': conv3dF16,
  'conv3d-peers': conv3dPeers,
  'conv3d-torch': conv3dTorch,
  'conv3d-tuned': conv3dTuned,
  dispatch,
  elementwise,
  'em-loss-adam': emLossAdam,
  'instance-norm': instanceNorm,
  kernels3d,
  matmul,
  model,
  paper,
};

/** Peers whose packages are not in the bundle. */
export const NPM_PEERS = /^(tfjs|onnxruntime)/;

if (process.env.HNFNET_BENCH_BUNDLE === '1') {
  const cases = Object.values(CASE_MODULES).flatMap((m) => m.cases.filter((c) => !NPM_PEERS.test(c.impl)));
  main(() => Promise.resolve(cases), join(process.cwd(), 'results'));
}
