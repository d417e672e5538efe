import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend } from './cpu/backend.js';
import { NoAdapterError, createEngine } from './engine.js';

const noAdapter = async () => null;

test('cpu is the CPU reference; auto falls back to it without an adapter; webgpu refuses', async () => {
  assert.equal((await createEngine({ backend: 'cpu' })).name, 'cpu');
  const auto = await createEngine({ backend: 'auto', webgpu: noAdapter });
  assert.ok(auto instanceof CpuBackend);
  assert.equal(auto.adapter, 'cpu');
  await assert.rejects(createEngine({ backend: 'webgpu', webgpu: noAdapter }), NoAdapterError);
  await assert.rejects(createEngine({ backend: 'gpu' as 'cpu' }), /unknown backend "gpu"/);
});

test('auto and webgpu use the WebGPU backend when there is one, passing f16 through', async () => {
  const seen: unknown[] = [];
  const fake = new CpuBackend();
  const factory = async (options: { f16?: boolean }) => (seen.push(options), fake);
  assert.equal(await createEngine({ backend: 'auto', f16: true, webgpu: factory }), fake);
  assert.equal(await createEngine({ backend: 'webgpu', webgpu: factory }), fake);
  assert.deepEqual(seen, [{ f16: true }, { f16: undefined }]);
});
