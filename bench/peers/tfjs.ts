/**
 * TF.js with its WebGPU backend, on the same Dawn instance (and so the same adapter) as
 * hnfnet. TF.js looks for `navigator.gpu`, which Node lacks; we hand it Dawn's GPU.
 */
import { nodeGPU } from '../../src/tensor/device.node.js';

type TF = typeof import('@tensorflow/tfjs-core');

let loaded: Promise<TF> | null = null;

export function loadTfjsWebGPU(): Promise<TF> {
  if (!loaded) {
    loaded = (async () => {
      const g = globalThis as { navigator?: { gpu?: GPU } };
      if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: nodeGPU() }, configurable: true });
      else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: nodeGPU(), configurable: true });
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-webgpu');
      const ok = await tf.setBackend('webgpu');
      if (!ok) throw new Error('TF.js could not start its WebGPU backend');
      await tf.ready();
      return tf;
    })();
  }
  return loaded;
}

/** Waits until TF.js's queued GPU work is done, without reading results back. */
export async function tfjsSync(tf: TF): Promise<void> {
  const backend = tf.backend() as unknown as {
    commandEncoder?: GPUCommandEncoder | null;
    endComputePassEncoder?: () => void;
    submitQueue?: () => void;
    device?: GPUDevice;
  };
  if (backend.commandEncoder) {
    backend.endComputePassEncoder?.();
    backend.submitQueue?.();
  }
  if (backend.device) await backend.device.queue.onSubmittedWorkDone();
}
