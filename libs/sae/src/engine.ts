/**
 * Picks the backend that encodes: WebGPU when an adapter exists (a real GPU, or lavapipe on a CPU),
 * otherwise the CPU reference. Every EncodeStats says which backend and adapter produced it.
 */
import { CpuBackend } from './cpu/backend.js';
import { type EncodeBackend } from './types.js';
import { createWebGpuBackend } from './webgpu/backend.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu'];

export interface EngineOptions {
  backend: BackendChoice;
  /** f16 weights on the GPU when the adapter offers shader-f16. */
  f16?: boolean;
  /** Creates the WebGPU backend (null when there is no adapter); replaceable so fallback can be tested. */
  webgpu?: (options: { f16?: boolean }) => Promise<EncodeBackend | null>;
}

export class NoAdapterError extends Error {
  override readonly name = 'NoAdapterError';
}

export async function createEngine(options: EngineOptions): Promise<EncodeBackend> {
  if (options.backend === 'cpu') return new CpuBackend();
  if (!BACKEND_CHOICES.includes(options.backend)) {
    throw new Error(
      `unknown backend "${String(options.backend)}", expected one of ${BACKEND_CHOICES.join(', ')}`,
    );
  }
  const gpu = await (options.webgpu ?? createWebGpuBackend)({ f16: options.f16 });
  if (gpu) return gpu;
  if (options.backend === 'webgpu') {
    throw new NoAdapterError(
      'backend "webgpu" was asked for but no WebGPU adapter was found (install Mesa lavapipe or a GPU driver, or use backend "auto" or "cpu")',
    );
  }
  return new CpuBackend();
}
