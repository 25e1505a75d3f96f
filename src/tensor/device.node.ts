import { create, globals } from 'webgpu';
import { setGPUProvider } from './gpu.js';
import { dawnFlags, type DawnToggles } from './dawn-toggles.js';
import { setTuneStoreProvider } from './tune-cache.js';
import { fileTuneStore } from './tune-store.node.js';

/**
 * Dawn's instances for this process, one per set of toggles (Dawn takes toggles per instance).
 * Each must stay strongly referenced for as long as any device made from it lives: if the GC
 * collects it, Dawn destroys the instance under a live device and the process dies later at
 * random (docs/ARCHITECTURE.md, Errors). A module-level map lives as long as the process, which
 * is what we want.
 */
const dawnInstances = new Map<string, GPU>();

export function nodeGPU(toggles: DawnToggles = {}): GPU {
  const flags = dawnFlags(toggles);
  const key = flags.join(' ');
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    // WebGPU's enums (GPUBufferUsage, GPUMapMode...) are globals in browsers; Dawn hands them over.
    for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    gpu = create(flags);
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

setGPUProvider(nodeGPU);
setTuneStoreProvider(() => fileTuneStore());
