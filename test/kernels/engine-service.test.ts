import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineService } from '../../apps/worker/src/evaluations/engine.service.js';
import { type SentinelConfig } from '../../libs/common/src/index.js';
import { type Activations, type Sae } from '../../libs/sae/src/types.js';
import { type WebGpuBackend } from '../../libs/sae/src/webgpu/backend.js';
import { gpuOrSkip } from '../support/gpu.js';

const wave = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f));
const sae: Sae = {
  format: 'saelens',
  architecture: 'standard',
  dIn: 8,
  dSae: 16,
  wEnc: wave(8 * 16, 0.7),
  bEnc: wave(16, 1.3),
  bDec: new Float32Array(8),
  applyBDecToInput: false,
  normalizeActivations: 'none',
  sourceDtype: 'F32',
  source: 'engine-service test',
};
const acts: Activations = { nTokens: 3, dIn: 8, data: wave(24, 0.4) };

// The worker's engine after a GPU reset: the evaluation that met it fails (and is retried), the next one
// gets a new backend on a new device instead of failing on the dead one until the process restarts.
test('EngineService replaces a WebGPU backend whose device was lost', async (t) => {
  const probe = await gpuOrSkip(t);
  if (!probe) return;
  probe.device.destroy();
  const engine = new EngineService({ engineBackend: 'webgpu', engineF16: false } as SentinelConfig);
  try {
    const first = (await engine.get()) as WebGpuBackend;
    const before = await first.encode(sae, acts);
    const device = (first as unknown as { device: GPUDevice }).device;
    device.destroy();
    await device.lost;
    assert.equal(first.lost, true);

    const second = await engine.get();
    assert.notEqual(second, first);
    assert.equal(second.lost, false);
    const after = await second.encode(sae, acts);
    assert.deepEqual(after.mean, before.mean);
    assert.equal(await engine.get(), second, 'a healthy backend is kept');
  } finally {
    await engine.onApplicationShutdown();
  }
});
