/**
 * Opens the demo's WebGPU device, or says precisely why it cannot and what to enable. The
 * library's own NoAdapterError speaks of drivers for Node; a person in a browser needs to
 * hear about browser versions, flags and secure origins instead.
 */
import { Device } from '../src/browser.js';

export type GpuOutcome = { ok: true; device: Device } | { ok: false; title: string; remedy: string[] };

const ENABLE_WEBGPU = [
  'Use a browser with WebGPU: Chrome or Edge 113 or later (Windows, macOS, ChromeOS, Android), Safari 26 or later, or Firefox 141 or later on Windows.',
  'Chrome on Linux: open chrome://flags/#enable-unsafe-webgpu and enable it (and chrome://flags/#enable-vulkan), or start it with --enable-unsafe-webgpu --enable-features=Vulkan.',
  'Headless Chromium without a GPU: add --enable-unsafe-webgpu (WebGPU then runs on SwiftShader, slowly).',
];

export async function openGpu(): Promise<GpuOutcome> {
  if (!window.isSecureContext) {
    return { ok: false, title: 'WebGPU needs a secure page', remedy: [`This page is served from ${location.origin}. Open it over https, or from localhost / 127.0.0.1 (npm run demo:web serves it there).`] };
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { ok: false, title: 'This browser has no WebGPU (navigator.gpu is undefined)', remedy: ENABLE_WEBGPU };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { ok: false, title: `WebGPU failed to find an adapter: ${e instanceof Error ? e.message : String(e)}`, remedy: ENABLE_WEBGPU };
  }
  if (!adapter) {
    return {
      ok: false,
      title: 'WebGPU is there, but it found no GPU adapter',
      remedy: [
        'Turn on hardware acceleration (chrome://settings/system, "Use graphics acceleration when available") and check chrome://gpu for "WebGPU: Hardware accelerated".',
        ...ENABLE_WEBGPU.slice(1),
      ],
    };
  }
  try {
    return { ok: true, device: await Device.create({ gpu, adapter }) };
  } catch (e) {
    return { ok: false, title: `Could not create a WebGPU device: ${e instanceof Error ? e.message : String(e)}`, remedy: ['Close other tabs that use the GPU and reload; the adapter may be out of memory.'] };
  }
}
