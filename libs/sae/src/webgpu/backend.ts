import type { EncodeBackend } from '../types.js';
import { requestGpu } from '../gpu/device.js';

/**
 * The WebGPU encode backend (fused WGSL encode-and-reduce). Returns null when there is no adapter.
 * Placeholder while the kernels land: encode throws until then.
 */
export async function createWebGpuBackend(options: { f16?: boolean } = {}): Promise<EncodeBackend | null> {
  const gpu = await requestGpu({ optionalFeatures: options.f16 ? ['shader-f16'] : [] });
  if (!gpu) return null;
  const { device, description } = gpu;
  return {
    name: 'webgpu',
    adapter: description.description,
    async encode() {
      throw new Error('webgpu backend: kernels not implemented yet');
    },
    release() {},
    async dispose() {
      device.destroy();
    },
  };
}
