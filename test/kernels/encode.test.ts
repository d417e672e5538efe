import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { floatToHalfBits, halfBitsToFloat } from '../../libs/sae/src/formats/dtype.js';
import { requestGpu } from '../../libs/sae/src/gpu/device.js';
import { cpuEncodeStats } from '../../libs/sae/src/cpu/reference.js';
import {
  type Activations,
  type EncodeOptions,
  type EncodeStats,
  type NormalizeActivations,
  type Sae,
  type SaeArchitecture,
} from '../../libs/sae/src/types.js';
import { clearAutotuneCache } from '../../libs/sae/src/webgpu/autotune.js';
import { WebGpuBackend, type WebGpuBackendOptions } from '../../libs/sae/src/webgpu/backend.js';
import { ENCODE_VARIANTS } from '../../libs/sae/src/webgpu/encode-kernel.js';
import { GpuDeviceLostError, GpuOutOfMemoryError } from '../../libs/sae/src/webgpu/errors.js';

// Kernel tests: the WGSL encode on the real adapter (lavapipe in CI) against the CPU reference
// (f64 accumulation). f32 weights: |gpu − ref| ≤ 1e-4·max(1, |ref|). f16 weights: the reference gets
// the same f16-rounded W_enc, so the bound stays 1e-4 (what differs is only f32 accumulation order).

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

interface SaeSpec {
  dIn: number;
  dSae: number;
  architecture?: SaeArchitecture;
  k?: number;
  normalize?: NormalizeActivations;
  applyBDec?: boolean;
  seed?: number;
}

function randomSae(spec: SaeSpec): Sae {
  const r = rng(spec.seed ?? 1);
  const { dIn, dSae } = spec;
  const scale = 1 / Math.sqrt(dIn);
  return {
    format: 'saelens',
    architecture: spec.architecture ?? 'standard',
    dIn,
    dSae,
    k: spec.k,
    wEnc: Float32Array.from({ length: dIn * dSae }, () => r() * scale * 2),
    bEnc: Float32Array.from({ length: dSae }, () => r() * 0.2),
    bDec: Float32Array.from({ length: dIn }, () => r() * 0.5),
    threshold: Float32Array.from({ length: dSae }, () => Math.abs(r()) * 0.3),
    applyBDecToInput: spec.applyBDec ?? false,
    normalizeActivations: spec.normalize ?? 'none',
    sourceDtype: 'F32',
    source: `random(${dIn}x${dSae})`,
  };
}

function randomActs(nTokens: number, dIn: number, seed: number, prompts?: number[]): Activations {
  const r = rng(seed * 7919);
  const acts: Activations = {
    nTokens,
    dIn,
    data: Float32Array.from({ length: nTokens * dIn }, () => r() * 2),
  };
  if (prompts) {
    const offsets = [0];
    for (const len of prompts) offsets.push(offsets[offsets.length - 1] + len);
    assert.equal(offsets[offsets.length - 1], nTokens);
    acts.promptOffsets = Int32Array.from(offsets);
  }
  return acts;
}

function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const bound = tol * Math.max(1, Math.abs(want[i]));
    if (!(Math.abs(got[i] - want[i]) <= bound)) {
      assert.fail(`${what}[${i}]: gpu ${got[i]} vs reference ${want[i]} (bound ${bound})`);
    }
  }
}

function compare(gpu: EncodeStats, ref: EncodeStats, tol = 1e-4) {
  assert.equal(gpu.backend, 'webgpu');
  assert.ok(gpu.adapter.length > 0);
  assert.equal(gpu.nTokens, ref.nTokens);
  assert.equal(gpu.nPrompts, ref.nPrompts);
  close('mean', gpu.mean, ref.mean, tol);
  close('fracActive', gpu.fracActive, ref.fracActive, tol);
  close('max', gpu.max, ref.max, tol);
  assert.equal(!!gpu.promptMean, !!ref.promptMean, 'promptMean presence');
  if (ref.promptMean) close('promptMean', gpu.promptMean!, ref.promptMean, tol);
  assert.equal(gpu.directions.length, ref.directions.length);
  ref.directions.forEach((d, i) => {
    assert.equal(gpu.directions[i].name, d.name);
    close(`direction ${d.name} mean`, [gpu.directions[i].mean], [d.mean], tol);
    close(`direction ${d.name} promptMeans`, gpu.directions[i].promptMeans, d.promptMeans, tol);
  });
}

const gpuAvailable = await requestGpu().then((g) => {
  g?.device.destroy();
  return !!g;
});
if (!gpuAvailable && process.env.CI === 'true')
  throw new Error('no WebGPU adapter (CI=true: kernel tests may not be skipped)');

async function backend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  const gpu = await requestGpu({ optionalFeatures: ['shader-f16', 'subgroups'] });
  assert.ok(gpu, 'WebGPU adapter');
  return new WebGpuBackend(gpu, options);
}

async function check(
  be: WebGpuBackend,
  sae: Sae,
  acts: Activations,
  options: EncodeOptions = {},
  tol = 1e-4,
) {
  const gpu = await be.encode(sae, acts, options);
  compare(gpu, cpuEncodeStats(sae, acts, options), tol);
  be.release(sae);
  return gpu;
}

describe(
  'WebGPU encode kernels against the CPU reference',
  { skip: !gpuAvailable && 'no WebGPU adapter' },
  () => {
    let be: WebGpuBackend;
    // One variant for the feature matrix (subgroups on lavapipe); every variant gets the awkward shapes.
    let variant: string;
    before(async () => {
      const probe = await backend();
      // The fastest variant on lavapipe (which is also quick to compile) runs the feature matrix.
      variant = (probe.variants.find((v) => v.name === 'stex-xt-w8-n1-m16') ?? probe.variants[0]).name;
      await probe.dispose();
      be = await backend({ variant });
    });
    after(() => be?.dispose());

    for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
      for (const normalize of ['none', 'constant_norm_rescale', 'layer_norm'] as const) {
        for (const applyBDec of [false, true]) {
          test(`${architecture}, ${normalize}, apply_b_dec ${applyBDec}`, async () => {
            const sae = randomSae({ dIn: 21, dSae: 77, architecture, k: 9, normalize, applyBDec, seed: 3 });
            const acts = randomActs(13, 21, 5, [4, 0, 1, 8]);
            await check(be, sae, acts, {
              directions: [
                { name: 'a', vector: randomActs(1, 21, 9).data },
                { name: 'b', vector: randomActs(1, 21, 10).data },
              ],
            });
          });
        }
      }
    }

    test('every encode variant on awkward shapes (d_in, d_sae, n_tokens off the tiles)', async () => {
      for (const v of ENCODE_VARIANTS) {
        const b = await backend({ variant: v.name });
        try {
          if (!b.variants.some((x) => x.name === v.name)) continue; // needs subgroups this adapter lacks
          for (const [dIn, dSae, n] of [
            [37, 131, 19],
            [8, 64, 16],
            [3, 1, 1],
            [64, 200, 33],
            // Texture variants: 47 blocks of 320 rows (d_in padded to 320) span 15 texture rows of
            // 1024 block rows, and some blocks straddle two.
            [300, 1500, 9],
          ]) {
            const sae = randomSae({ dIn, dSae, seed: dIn + dSae });
            await check(b, sae, randomActs(n, dIn, n, n > 2 ? [1, n - 2, 1] : undefined));
          }
        } finally {
          await b.dispose();
        }
      }
    });

    test('d_sae = 1 and n_tokens = 1, every architecture', async () => {
      for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
        await check(
          be,
          randomSae({ dIn: 5, dSae: 1, architecture, k: 1, seed: 11 }),
          randomActs(1, 5, 2, [1]),
        );
        await check(be, randomSae({ dIn: 5, dSae: 9, architecture, k: 2, seed: 12 }), randomActs(1, 5, 3));
      }
    });

    test('topk with k ≥ d_sae keeps every positive pre-activation', async () => {
      await check(
        be,
        randomSae({ dIn: 12, dSae: 10, architecture: 'topk', k: 10, seed: 4 }),
        randomActs(7, 12, 4),
      );
      await check(
        be,
        randomSae({ dIn: 12, dSae: 10, architecture: 'topk', k: 50, seed: 5 }),
        randomActs(7, 12, 5),
      );
    });

    test('topk ties at the k-th value keep the lowest latent indices, as the reference does', async () => {
      // Columns 3, 10, 17, … are copies of column 3 (and share b_enc): their pre-activations are equal
      // bit for bit, so the k-th largest value is usually one of many ties.
      const sae = randomSae({ dIn: 16, dSae: 40, architecture: 'topk', k: 5, seed: 6 });
      for (let j = 10; j < 40; j += 7) {
        for (let i = 0; i < 16; i++) sae.wEnc[i * 40 + j] = sae.wEnc[i * 40 + 3];
        sae.bEnc[j] = sae.bEnc[3];
      }
      // x = 0 rows make every h equal b_enc: ties across the whole row.
      const acts = randomActs(9, 16, 6, [3, 6]);
      acts.data.fill(0, 0, 32);
      const gpu = await check(be, sae, acts);
      assert.ok(gpu.fracActive.some((f) => f > 0));
    });

    test('column sharding forced on by a small shard limit gives the same statistics', async () => {
      const b = await backend({ variant, shardBytes: 24 * 64 * 4 + 100 });
      try {
        for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
          const sae = randomSae({ dIn: 20, dSae: 150, architecture, k: 7, seed: 8 });
          await check(b, sae, randomActs(11, 20, 8, [5, 6]), {
            directions: [{ name: 'd', vector: sae.bDec }],
          });
        }
      } finally {
        await b.dispose();
      }
    });

    test('several chunks of tokens accumulate into the same statistics', async () => {
      const b = await backend({ variant, chunkTokens: 5 });
      try {
        for (const architecture of ['standard', 'topk'] as const) {
          const sae = randomSae({ dIn: 10, dSae: 70, architecture, k: 4, seed: 9 });
          await check(b, sae, randomActs(23, 10, 9, [7, 0, 9, 1, 6]), {
            directions: [{ name: 'd', vector: sae.bDec }],
          });
        }
      } finally {
        await b.dispose();
      }
    });

    test('f16 weights (shader-f16) against the reference on the same f16-rounded W_enc', async (t) => {
      const b = await backend({ variant, f16: true });
      try {
        if (!b.f16) return t.skip('adapter has no shader-f16');
        for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
          for (const [dIn, dSae] of [
            [19, 33],
            [16, 65],
          ]) {
            const sae = randomSae({
              dIn,
              dSae,
              architecture,
              k: 6,
              seed: dSae,
              normalize: 'layer_norm',
              applyBDec: true,
            });
            const gpu = await b.encode(sae, randomActs(9, dIn, 2, [2, 7]));
            b.release(sae);
            const rounded = { ...sae, wEnc: sae.wEnc.map((v) => halfBitsToFloat(floatToHalfBits(v))) };
            compare(gpu, cpuEncodeStats(rounded, randomActs(9, dIn, 2, [2, 7])));
          }
        }
      } finally {
        await b.dispose();
      }
    });

    test('a plan over the memory budget fails with a retryable GpuOutOfMemoryError before allocating', async () => {
      const b = await backend({ variant, budgetBytes: 1000 });
      try {
        const before = b.liveBuffers;
        await assert.rejects(
          b.encode(randomSae({ dIn: 32, dSae: 64 }), randomActs(4, 32, 1)),
          (err: unknown) => {
            assert.ok(err instanceof GpuOutOfMemoryError);
            assert.equal(err.retryable, true);
            return true;
          },
        );
        assert.equal(b.liveBuffers, before);
      } finally {
        await b.dispose();
      }
    });

    test('a lost device fails encodes with a retryable GpuDeviceLostError', async () => {
      const b = await backend({ variant });
      const sae = randomSae({ dIn: 8, dSae: 16 });
      await b.encode(sae, randomActs(2, 8, 1));
      // What a driver reset looks like to Dawn: the device goes away under the backend.
      const device = (b as unknown as { device: GPUDevice }).device;
      device.destroy();
      await device.lost;
      assert.equal(b.lost, true, 'the backend reports the loss, so its owner can replace it');
      await assert.rejects(b.encode(sae, randomActs(2, 8, 1)), (err: unknown) => {
        assert.ok(err instanceof GpuDeviceLostError);
        assert.equal(err.retryable, true);
        return true;
      });
      await b.dispose();
    });

    test('GPU buffers return to the baseline over many encodes and releases', async () => {
      const sae = randomSae({ dIn: 16, dSae: 48, architecture: 'topk', k: 3 });
      const acts = randomActs(6, 16, 1, [2, 4]);
      const baseline = be.liveBuffers;
      await be.encode(sae, acts);
      const prepared = be.liveBuffers;
      assert.ok(prepared > baseline, 'weights stay on the device between encodes');
      for (let i = 0; i < 50; i++)
        await be.encode(sae, acts, { directions: [{ name: 'd', vector: sae.bDec }] });
      assert.equal(be.liveBuffers, prepared, 'no buffers left behind by encodes');
      be.release(sae);
      assert.equal(be.liveBuffers, baseline, 'release frees the weights');
    });

    test('autotune picks a variant once per adapter and shape class, and reports it', async () => {
      clearAutotuneCache();
      const b = await backend();
      try {
        const sae = randomSae({ dIn: 24, dSae: 96 });
        const acts = randomActs(5, 24, 3);
        const first = await b.encode(sae, acts);
        assert.ok(b.lastTune, 'first encode tuned');
        assert.equal(Object.keys(b.lastTune.times).length, b.variants.length);
        assert.equal(b.lastVariant, b.lastTune.chosen);
        compare(first, cpuEncodeStats(sae, acts));
        b.lastTune = undefined;
        await b.encode(sae, acts);
        assert.equal(b.lastTune, undefined, 'second encode reused the cached choice');
      } finally {
        await b.dispose();
      }
    });
  },
);
