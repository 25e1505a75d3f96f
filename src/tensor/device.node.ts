import { create, globals } from 'webgpu';
import { setGPUProvider } from './gpu.js';
import { setTuneStoreProvider } from './tune-cache.js';
import { fileTuneStore } from './tune-store.node.js';

/**
 * Dawn's instance for this process. It must stay strongly referenced for as long as any
 * device made from it lives: if the GC collects it, Dawn destroys the instance under a
 * live device and the process dies later at random (docs/ARCHITECTURE.md, Errors). A module-level
 * binding lives as long as the process, which is what we want.
 */
let dawnInstance: GPU | undefined;

export function nodeGPU(): GPU {
  if (!dawnInstance) {
    // WebGPU's enums (GPUBufferUsage, GPUMapMode...) are globals in browsers; Dawn hands them over.
    for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    dawnInstance = create([]);
  }
  return dawnInstance;
}

setGPUProvider(nodeGPU);
setTuneStoreProvider(() => fileTuneStore());
