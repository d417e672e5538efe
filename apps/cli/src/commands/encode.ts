/**
 * `sentinel encode`: encodes an activations file with an SAE and prints per-latent statistics as one JSON
 * object; `--out` also writes them as safetensors.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  BACKEND_CHOICES,
  createEngine,
  loadSae,
  readActivationsFile,
  writeSafetensors,
  type BackendChoice,
  type EncodeStats,
  type TensorToWrite,
} from '../../../../libs/sae/src/index.js';
import { CliUsageError, type Command } from '../cli-error.js';

const USAGE = `usage: sentinel encode --sae <folder or file> --activations <file> [options]

  --sae <path>          SAELens folder (cfg.json + sae_weights.safetensors), sparsify folder
                        (cfg.json + sae.safetensors) or Gemma Scope params.npz
  --activations <path>  safetensors with "activations" [n_tokens, d_in] (and optional
                        "prompt_offsets"), or a .npy [n_tokens, d_in]
  --backend <b>         auto (default: WebGPU if an adapter exists, else CPU), webgpu or cpu
  --f16                 f16 weights on the GPU when the adapter has shader-f16
  --latents <list>      latents to report, e.g. 10,89,31
  --top <n>             how many latents with the largest mean to report (default 20)
  --out <path>          also write mean, frac_active, max [d_sae] (and prompt_mean) as F32 safetensors

Prints one JSON object: backend, adapter, nTokens, dSae, latents, top.`;

export interface EncodeOutput {
  backend: string;
  adapter: string;
  format: string;
  architecture: string;
  nTokens: number;
  nPrompts: number;
  dSae: number;
  latents: { index: number; mean: number; fracActive: number; max: number }[];
  top: { index: number; mean: number }[];
  timingsMs: Record<string, number>;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        sae: { type: 'string' },
        activations: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        f16: { type: 'boolean', default: false },
        latents: { type: 'string' },
        top: { type: 'string', default: '20' },
        out: { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
}

function parseLatents(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text.split(',').map((part) => {
    const s = part.trim();
    if (!/^\d+$/.test(s))
      throw new CliUsageError(`--latents: "${s}" is not a latent index (expected e.g. 10,89,31)`);
    return Number(s);
  });
}

/** The `top` latents by mean, ties by lower index. */
export function topByMean(mean: Float32Array, n: number): { index: number; mean: number }[] {
  const order = Array.from(mean.keys()).sort((a, b) => mean[b] - mean[a] || a - b);
  return order.slice(0, n).map((index) => ({ index, mean: mean[index] }));
}

export function statsTensors(stats: EncodeStats): Record<string, TensorToWrite> {
  const tensors: Record<string, TensorToWrite> = {
    mean: { dtype: 'F32', shape: [stats.dSae], data: stats.mean },
    frac_active: { dtype: 'F32', shape: [stats.dSae], data: stats.fracActive },
    max: { dtype: 'F32', shape: [stats.dSae], data: stats.max },
  };
  if (stats.promptMean) {
    tensors.prompt_mean = { dtype: 'F32', shape: [stats.nPrompts, stats.dSae], data: stats.promptMean };
  }
  return tensors;
}

async function run(argv: string[]): Promise<number> {
  const opts = parse(argv);
  if (!opts.sae) throw new CliUsageError('--sae is required');
  if (!opts.activations) throw new CliUsageError('--activations is required');
  if (!BACKEND_CHOICES.includes(opts.backend as BackendChoice)) {
    throw new CliUsageError(`--backend "${opts.backend}" is not one of ${BACKEND_CHOICES.join(', ')}`);
  }
  if (!/^\d+$/.test(opts.top)) throw new CliUsageError(`--top "${opts.top}" is not a non-negative integer`);
  const latents = parseLatents(opts.latents);

  const sae = await loadSae(opts.sae);
  const bad = latents.find((j) => j >= sae.dSae);
  if (bad !== undefined)
    throw new CliUsageError(`--latents: latent ${bad} is out of range (the SAE has d_sae ${sae.dSae})`);
  const activations = await readActivationsFile(opts.activations);

  const engine = await createEngine({ backend: opts.backend as BackendChoice, f16: opts.f16 });
  let stats: EncodeStats;
  try {
    stats = await engine.encode(sae, activations);
  } finally {
    await engine.dispose();
  }
  if (opts.out) {
    const metadata = {
      sae: opts.sae,
      activations: opts.activations,
      backend: stats.backend,
      adapter: stats.adapter,
    };
    try {
      await writeFile(opts.out, writeSafetensors(statsTensors(stats), metadata));
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot write --out ${opts.out} (${reason})`, { cause: err });
    }
  }
  const output: EncodeOutput = {
    backend: stats.backend,
    adapter: stats.adapter,
    format: sae.format,
    architecture: sae.architecture,
    nTokens: stats.nTokens,
    nPrompts: stats.nPrompts,
    dSae: stats.dSae,
    latents: latents.map((index) => ({
      index,
      mean: stats.mean[index],
      fracActive: stats.fracActive[index],
      max: stats.max[index],
    })),
    top: topByMean(stats.mean, Number(opts.top)),
    timingsMs: stats.timings,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
  return 0;
}

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'per-latent statistics of activations under an SAE',
  usage: USAGE,
  run,
};
