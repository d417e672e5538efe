import { type TestContext } from 'node:test';
import { requestGpu, type GpuContext } from '../../libs/sae/src/gpu/device.js';

/**
 * A WebGPU device for a kernel test. With no adapter the test FAILS under CI=true (CI must exercise the
 * kernels) and skips loudly elsewhere, saying how to get one.
 */
export async function gpuOrSkip(t: TestContext): Promise<GpuContext | null> {
  const gpu = await requestGpu({ optionalFeatures: ['shader-f16', 'subgroups', 'timestamp-query'] });
  if (gpu) return gpu;
  const message =
    'no WebGPU adapter: install Mesa lavapipe from bookworm-backports with `sudo scripts/setup-system.sh`';
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: kernel tests may not be skipped)`);
  console.error(`\n!!! SKIPPING GPU TEST: ${message}\n`);
  t.skip(message);
  return null;
}
