/** The README's ten lines: a tensor, a 3D convolution, a backward pass. Run: npx tsx examples/library.ts */
import { init, randn, conv3d, relu, mean, backward } from '../src/index.js';

await init(); // a WebGPU device (Dawn in Node)
const x = randn([1, 4, 32, 32, 32], { seed: 0 }); // N, C, D, H, W
const w = randn([8, 4, 3, 3, 3], { seed: 1, requiresGrad: true });
const y = relu(conv3d(x, w, null, { padding: 1 }));
const loss = mean(y);
backward(loss);
console.log(await loss.item(), (await w.grad!.data()).slice(0, 4));
