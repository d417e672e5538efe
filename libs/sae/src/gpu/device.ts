import { create, globals } from 'webgpu';

/** Adapter description a caller can log or store with results ("which GPU computed this?"). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
}

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  description: AdapterDescription;
}

/**
 * The process's one Dawn instance. It must stay referenced for as long as any device lives: if the GPU
 * object is garbage-collected, Dawn's event loop touches the freed instance and the process crashes
 * (seen as a SIGSEGV in InstanceBase::ProcessEvents during a long shader compile on lavapipe).
 */
let instance: GPU | undefined;

function gpuInstance(): GPU {
  if (!instance) {
    // Dawn's node bindings need the WebGPU enums (GPUBufferUsage, …) on globalThis.
    Object.assign(globalThis, globals);
    instance = create([]);
  }
  return instance;
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' '),
    features: [...adapter.features].sort(),
  };
}

/**
 * Returns a WebGPU device on the best adapter Dawn finds (a real GPU through Vulkan, or Mesa lavapipe
 * on a CPU), or null when there is none. Optional features are requested when the adapter has them,
 * and the adapter's full storage-buffer limits are asked for, since SAE weights are large.
 */
export async function requestGpu(
  options: { optionalFeatures?: GPUFeatureName[]; powerPreference?: GPUPowerPreference } = {},
): Promise<GpuContext | null> {
  const adapter = await gpuInstance().requestAdapter({
    powerPreference: options.powerPreference ?? 'high-performance',
  });
  if (!adapter) return null;
  const requiredFeatures = (options.optionalFeatures ?? []).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    },
  });
  return { adapter, device, description: describeAdapter(adapter) };
}
