import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  cpuEncodeStats,
  createEngine,
  loadSaeFromFiles,
  syntheticSaeWeights,
  type Activations,
  type EncodeBackend,
  type EncodeStats,
} from '../../libs/sae/src/index.js';
import { createWebGpuBackend } from '../../libs/sae/src/webgpu/backend.js';
import { formatMatrix } from '../support/sae-matrix.js';

// Every architecture × format × dtype, from files written the way the real projects write them:
// loaded through loadSaeFromFiles, the CPU reference must give exactly the statistics of the SAE built
// from the weights directly, and the engine (WebGPU on this machine's adapter, else the CPU fallback)
// must agree with the reference.
const W = syntheticSaeWeights(24, 96, 17);
const cases = formatMatrix(W, 7);
const acts: Activations = {
  nTokens: 11,
  dIn: 24,
  data: Float32Array.from({ length: 11 * 24 }, (_, i) => Math.sin(i * 0.61) * 1.5 + Math.cos(i * 0.07)),
  promptOffsets: Int32Array.from([0, 3, 3, 11]),
};
const directions = [{ name: 'persona', vector: Float32Array.from({ length: 24 }, (_, i) => (i % 5) - 2) }];

let engine: EncodeBackend;
before(async () => {
  // One fixed kernel variant: autotuning (timing every variant per architecture) is the kernel tests'
  // business and would multiply this file's shader compiles.
  engine = await createEngine({
    backend: 'auto',
    webgpu: (options) => createWebGpuBackend({ ...options, variant: 'plain-w64-n1-m8' }),
  });
});
after(async () => {
  await engine.dispose();
});

function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const bound = tol * Math.max(1, Math.abs(want[i]));
    assert.ok(Math.abs(got[i] - want[i]) <= bound, `${what}[${i}]: ${got[i]} vs reference ${want[i]}`);
  }
}

function closeStats(label: string, got: EncodeStats, want: EncodeStats): void {
  close(`${label} mean`, got.mean, want.mean);
  close(`${label} fracActive`, got.fracActive, want.fracActive);
  close(`${label} max`, got.max, want.max);
  close(`${label} promptMean`, got.promptMean!, want.promptMean!);
  close(`${label} direction`, got.directions[0].promptMeans, want.directions[0].promptMeans);
}

test('the matrix covers every format, architecture and dtype', () => {
  assert.equal(cases.length, 3 * 3 + 3 + 2 + 2);
});

for (const c of cases) {
  test(c.label, async () => {
    const sae = await loadSaeFromFiles(c.files, undefined, c.label);
    const { source: _s, ...loaded } = sae;
    const { source: _e, ...expected } = c.expected;
    assert.deepEqual(loaded, expected, 'loaded SAE');
    const reference = cpuEncodeStats(c.expected, acts, { directions });
    assert.deepEqual(cpuEncodeStats(sae, acts, { directions }).mean, reference.mean);
    assert.ok(
      reference.fracActive.some((f) => f > 0),
      'some latent fires',
    );
    const stats = await engine.encode(sae, acts, { directions });
    assert.ok(stats.adapter.length > 0);
    closeStats(`${c.label} (${stats.backend})`, stats, reference);
    engine.release(sae);
  });
}
