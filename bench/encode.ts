/**
 * `npm run bench:encode`: throughput of the fused WGSL encode-and-reduce (WebGPU backend) and of the
 * CPU reference, in GFLOP/s = 2·n_tokens·d_in·d_sae / seconds, next to numpy's
 * np.maximum(X @ W_enc + b_enc, 0) on the same shape in the same run (the machine's sgemm reference).
 *
 *   npm run bench:encode                          d_in 1024, d_sae 16384, n_tokens 4096
 *   npm run bench:encode -- --tokens 512 --repeat 3 --variants   every encode variant, forced
 *   npm run bench:encode -- --leak 1000           RSS and live GPU buffers over 1000 small encodes
 *
 * Timing is wall clock of `encode` with the weights already on the device (the first, untimed encode
 * uploads them, autotunes and compiles); best of --repeat runs. Machines shared with other work give
 * noisy numbers: the load average is printed with the results.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { cpuEncodeStats } from '../libs/sae/src/cpu/reference.js';
import { type Activations, type Sae } from '../libs/sae/src/types.js';
import { createWebGpuBackend, type WebGpuBackend } from '../libs/sae/src/webgpu/backend.js';

const { values: args } = parseArgs({
  options: {
    'd-in': { type: 'string', default: '1024' },
    'd-sae': { type: 'string', default: '16384' },
    tokens: { type: 'string', default: '4096' },
    repeat: { type: 'string', default: '2' },
    'cpu-tokens': { type: 'string', default: '64' },
    variants: { type: 'boolean', default: false },
    variant: { type: 'string' },
    f16: { type: 'boolean', default: false },
    'no-numpy': { type: 'boolean', default: false },
    'no-cpu': { type: 'boolean', default: false },
    leak: { type: 'string' },
  },
});

const dIn = Number(args['d-in']);
const dSae = Number(args['d-sae']);
const nTokens = Number(args.tokens);
const repeat = Number(args.repeat);

function rng(seed: number) {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

function makeSae(dIn: number, dSae: number): Sae {
  const r = rng(1);
  return {
    format: 'saelens',
    architecture: 'standard',
    dIn,
    dSae,
    wEnc: Float32Array.from({ length: dIn * dSae }, () => r() / Math.sqrt(dIn)),
    bEnc: Float32Array.from({ length: dSae }, () => r() * 0.1),
    bDec: new Float32Array(dIn),
    applyBDecToInput: false,
    normalizeActivations: 'none',
    sourceDtype: 'F32',
    source: `bench(${dIn}x${dSae})`,
  };
}

function makeActs(n: number, dIn: number): Activations {
  const r = rng(2);
  return { nTokens: n, dIn, data: Float32Array.from({ length: n * dIn }, r) };
}

const gflops = (n: number, ms: number) => (2 * n * dIn * dSae) / (ms / 1000) / 1e9;
const load = () => loadavg()[0].toFixed(2);

/** Wall and CPU milliseconds (all threads) of numpy's sgemm + relu, or undefined without numpy. */
function numpyReference(): { ms: number; cpuMs: number } | undefined {
  const script = `
import time, numpy as np
rng = np.random.default_rng(0)
X = rng.standard_normal((${nTokens}, ${dIn}), dtype=np.float32)
W = rng.standard_normal((${dIn}, ${dSae}), dtype=np.float32)
b = rng.standard_normal(${dSae}, dtype=np.float32)
best = cpu = 1e9
for _ in range(${Math.max(2, repeat)}):
    t = time.perf_counter(); c = time.process_time(); np.maximum(X @ W + b, 0)
    best = min(best, time.perf_counter() - t); cpu = min(cpu, time.process_time() - c)
print(best, cpu)`;
  const res = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
  if (res.status !== 0) return undefined;
  const [wall, cpu] = res.stdout.trim().split(' ').map(Number);
  return { ms: wall * 1000, cpuMs: cpu * 1000 };
}

async function leakCheck(count: number) {
  const be = (await createWebGpuBackend({ variant: args.variant })) as WebGpuBackend | null;
  if (!be) throw new Error('no WebGPU adapter');
  const sae = makeSae(64, 256);
  const acts = makeActs(32, 64);
  acts.promptOffsets = Int32Array.from([0, 10, 32]);
  const directions = [{ name: 'd', vector: Float32Array.from({ length: 64 }, (_, i) => i + 1) }];
  const mib = () => (process.memoryUsage().rss / 2 ** 20).toFixed(1);
  await be.encode(sae, acts, { directions });
  const baseline = { rss: mib(), buffers: be.liveBuffers };
  console.log(
    `leak check: ${count} encodes of 32 tokens × 64 × 256 (with prompts and a direction) on ${be.adapter}`,
  );
  console.log(`after 1 encode: RSS ${baseline.rss} MiB, live GPU buffers ${baseline.buffers}`);
  for (let i = 1; i <= count; i++) {
    await be.encode(sae, acts, { directions });
    if (i % Math.max(1, Math.floor(count / 5)) === 0 || i === count) {
      (globalThis as { gc?: () => void }).gc?.();
      console.log(`after ${i + 1} encodes: RSS ${mib()} MiB, live GPU buffers ${be.liveBuffers}`);
    }
  }
  be.release(sae);
  console.log(`after release: live GPU buffers ${be.liveBuffers}`);
  await be.dispose();
}

async function main() {
  if (args.leak) return leakCheck(Number(args.leak));
  console.log(`encode benchmark: d_in ${dIn}, d_sae ${dSae}, n_tokens ${nTokens}; load average ${load()}`);
  const sae = makeSae(dIn, dSae);
  const acts = makeActs(nTokens, dIn);

  const numpy = args['no-numpy'] ? undefined : numpyReference();
  const numpyMs = numpy?.ms;
  if (numpy) {
    console.log(
      `numpy sgemm+relu: ${numpy.ms.toFixed(0)} ms, ${gflops(nTokens, numpy.ms).toFixed(1)} GFLOP/s` +
        ` (${gflops(nTokens, numpy.cpuMs).toFixed(1)} GFLOP per CPU-second)`,
    );
  } else console.log('numpy: not available (python3 with numpy), no sgemm reference');

  const probe = await createWebGpuBackend();
  if (!probe) {
    console.log('webgpu: no adapter');
  } else {
    const names = args.variants ? probe.variants.map((v) => v.name) : [args.variant];
    await probe.dispose();
    for (const variant of names) {
      const be = (await createWebGpuBackend({ f16: args.f16, variant }))!;
      const first = await be.encode(sae, acts);
      let best = Infinity;
      let bestCpu = Infinity;
      for (let r = 0; r < repeat; r++) {
        // CPU time of the process counts lavapipe's worker threads too: on a shared machine it is a
        // steadier measure of the kernel than wall time (GFLOP per CPU-second).
        const cpu = process.cpuUsage();
        best = Math.min(best, (await be.encode(sae, acts)).timings.total);
        const used = process.cpuUsage(cpu);
        bestCpu = Math.min(bestCpu, (used.user + used.system) / 1000);
      }
      const ratio = numpyMs !== undefined ? `, ${(numpyMs / best).toFixed(3)}× numpy` : '';
      const tune = be.lastTune
        ? ` (autotune ${Object.entries(be.lastTune.times)
            .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
            .join(', ')})`
        : '';
      console.log(
        `webgpu ${be.lastVariant}${be.f16 ? ' f16' : ''} on ${be.adapter}: ${best.toFixed(0)} ms, ` +
          `${gflops(nTokens, best).toFixed(2)} GFLOP/s${ratio}, ${gflops(nTokens, bestCpu).toFixed(2)} GFLOP per CPU-second; first encode ${first.timings.total.toFixed(0)} ms` +
          ` (upload ${first.timings.upload.toFixed(0)}, autotune ${first.timings.autotune.toFixed(0)})${tune}; load ${load()}`,
      );
      await be.dispose();
    }
  }

  if (!args['no-cpu']) {
    // The CPU reference on a slice of the tokens: its cost is linear in n_tokens.
    const n = Math.min(nTokens, Number(args['cpu-tokens']));
    const slice = { nTokens: n, dIn, data: acts.data.subarray(0, n * dIn) };
    let best = Infinity;
    for (let r = 0; r < Math.max(1, Math.min(repeat, 2)); r++) {
      const start = performance.now();
      cpuEncodeStats(sae, slice);
      best = Math.min(best, performance.now() - start);
    }
    const ratio = numpyMs !== undefined ? `, ${(((numpyMs / nTokens) * n) / best).toFixed(3)}× numpy` : '';
    console.log(
      `cpu reference (${n} tokens): ${best.toFixed(0)} ms, ${gflops(n, best).toFixed(2)} GFLOP/s${ratio}`,
    );
  }
}

await main();
