import { ArgumentError, NoAdapterError } from './errors.js';
import { noToggles, type DawnToggles } from './dawn-toggles.js';

/**
 * Where a `GPU` object comes from. In a browser it is `navigator.gpu`; in Node the
 * entry point registers a provider backed by Dawn (npm `webgpu`), see device.node.ts.
 * Keeping the Node import out of this file lets the same code bundle for browsers.
 */
export type GPUProvider = (toggles: DawnToggles) => GPU | undefined;

let provider: GPUProvider | undefined;

export function setGPUProvider(p: GPUProvider): void {
  provider = p;
}

export const NO_ADAPTER_REMEDY =
  'WebGPU found no adapter. hnfnet needs a GPU driver with Vulkan (Linux), Metal (macOS) or D3D12 (Windows). ' +
  'Without a GPU on Linux, install a software Vulkan driver: Mesa lavapipe >= 24, Debian/Ubuntu package ' +
  '"mesa-vulkan-drivers" (on Debian bookworm from bookworm-backports: ' +
  'apt-get install -t bookworm-backports mesa-vulkan-drivers). In a browser, use one with WebGPU enabled ' +
  '(Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu).';

/** A GPU whose devices get `toggles`; only a Node provider (Dawn) can honour toggles. */
export function findGPU(toggles: DawnToggles = {}): GPU {
  const fromProvider = provider?.(toggles);
  if (fromProvider) return fromProvider;
  if (!noToggles(toggles)) throw new ArgumentError(`Dawn toggles (${[...(toggles.enable ?? []), ...(toggles.disable ?? []).map((t) => `-${t}`)].join(', ')}) need Node's Dawn (npm "webgpu"); a browser's WebGPU takes none`);
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  throw new NoAdapterError('No WebGPU implementation: navigator.gpu is undefined and no Node provider is registered ' +
    '(import "hnfnet" from Node, not a deep path). ' + NO_ADAPTER_REMEDY);
}

export async function requestAdapter(gpu: GPU, powerPreference?: GPUPowerPreference): Promise<GPUAdapter> {
  const adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : {});
  if (!adapter) throw new NoAdapterError(NO_ADAPTER_REMEDY);
  return adapter;
}
