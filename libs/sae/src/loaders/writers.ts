/**
 * Writers for SAE files laid out the way SAELens, sparsify and Gemma Scope publish them. Tests, the
 * simulator and the benchmark use them to produce real-format inputs without Python.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FloatDtype } from '../formats/dtype.js';
import { writeNpz } from '../formats/npz.js';
import { writeSafetensors } from '../formats/safetensors.js';
import { type SaeArchitecture } from '../types.js';
import { transpose } from './assemble.js';

export interface SaeWeights {
  dIn: number;
  dSae: number;
  /** [d_in, d_sae] row-major. */
  wEnc: ArrayLike<number>;
  bEnc: ArrayLike<number>;
  bDec: ArrayLike<number>;
  /** [d_sae, d_in]; default: W_encᵀ (how SAELens initialises it). */
  wDec?: ArrayLike<number>;
  /** [d_sae], jumprelu only. */
  threshold?: ArrayLike<number>;
}

const TORCH_DTYPE: Record<FloatDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

function decoder(w: SaeWeights): ArrayLike<number> {
  return w.wDec ?? transpose(Float32Array.from(w.wEnc), w.dIn, w.dSae);
}

/** Python's json.dump layout (", " and ": " separators), as both projects write cfg.json. */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value ?? null);
}

export interface SaeLensWriteOptions {
  architecture?: SaeArchitecture;
  k?: number;
  applyBDecToInput?: boolean;
  /** Any SAELens spelling, including older ones (true/false/null). */
  normalizeActivations?: unknown;
  dtype?: FloatDtype;
  /** Fields to add to or replace in cfg.json (undefined removes one): older spellings, metadata. */
  cfg?: Record<string, unknown>;
}

/** cfg.json and sae_weights.safetensors as SAE.save_model (SAELens 6) writes them. */
export function saeLensFiles(w: SaeWeights, options: SaeLensWriteOptions = {}): Map<string, Buffer> {
  const architecture = options.architecture ?? 'standard';
  const dtype = options.dtype ?? 'F32';
  const cfg: Record<string, unknown> = {
    d_in: w.dIn,
    d_sae: w.dSae,
    dtype: TORCH_DTYPE[dtype],
    device: 'cpu',
    apply_b_dec_to_input: options.applyBDecToInput ?? architecture !== 'jumprelu',
    normalize_activations: options.normalizeActivations ?? 'none',
    reshape_activations: 'none',
    metadata: {
      sae_lens_version: '6.12.1',
      sae_lens_training_version: '6.12.1',
      hook_name: 'blocks.0.hook_resid_post',
    },
    architecture,
    ...(architecture === 'topk' ? { k: options.k, rescale_acts_by_decoder_norm: false } : {}),
  };
  for (const [key, value] of Object.entries(options.cfg ?? {})) {
    if (value === undefined) delete cfg[key];
    else cfg[key] = value;
  }
  const tensors: Parameters<typeof writeSafetensors>[0] = {
    W_enc: { dtype, shape: [w.dIn, w.dSae], data: w.wEnc },
    b_enc: { dtype, shape: [w.dSae], data: w.bEnc },
    W_dec: { dtype, shape: [w.dSae, w.dIn], data: decoder(w) },
    b_dec: { dtype, shape: [w.dIn], data: w.bDec },
  };
  if (architecture === 'jumprelu') tensors.threshold = { dtype, shape: [w.dSae], data: w.threshold ?? [] };
  return new Map([
    ['cfg.json', Buffer.from(pythonJson(cfg))],
    ['sae_weights.safetensors', writeSafetensors(tensors)],
  ]);
}

export interface SparsifyWriteOptions {
  k: number;
  dtype?: FloatDtype;
  cfg?: Record<string, unknown>;
}

/**
 * cfg.json and sae.safetensors as sparsify's Sae.save_to_disk writes them: SaeConfig fields plus d_in;
 * safetensors.torch.save_model (metadata {"format": "pt"}) with encoder.weight [d_sae, d_in].
 */
export function sparsifyFiles(w: SaeWeights, options: SparsifyWriteOptions): Map<string, Buffer> {
  const dtype = options.dtype ?? 'F32';
  const cfg: Record<string, unknown> = {
    expansion_factor: Math.max(1, Math.round(w.dSae / w.dIn)),
    normalize_decoder: true,
    num_latents: w.dSae,
    k: options.k,
    multi_topk: false,
    skip_connection: false,
    transcode: false,
    d_in: w.dIn,
  };
  for (const [key, value] of Object.entries(options.cfg ?? {})) {
    if (value === undefined) delete cfg[key];
    else cfg[key] = value;
  }
  const weights = writeSafetensors(
    {
      'encoder.weight': {
        dtype,
        shape: [w.dSae, w.dIn],
        data: transpose(Float32Array.from(w.wEnc), w.dIn, w.dSae),
      },
      'encoder.bias': { dtype, shape: [w.dSae], data: w.bEnc },
      W_dec: { dtype, shape: [w.dSae, w.dIn], data: decoder(w) },
      b_dec: { dtype, shape: [w.dIn], data: w.bDec },
    },
    { format: 'pt' },
  );
  return new Map([
    ['cfg.json', Buffer.from(pythonJson(cfg))],
    ['sae.safetensors', weights],
  ]);
}

/** params.npz as Gemma Scope publishes it (numpy.savez of W_enc, W_dec, b_enc, b_dec, threshold). */
export function gemmaScopeNpz(
  w: SaeWeights,
  options: { dtype?: 'F32' | 'F16'; compress?: boolean } = {},
): Buffer {
  const dtype = options.dtype ?? 'F32';
  return writeNpz(
    {
      W_enc: { dtype, shape: [w.dIn, w.dSae], data: w.wEnc },
      W_dec: { dtype, shape: [w.dSae, w.dIn], data: decoder(w) },
      b_enc: { dtype, shape: [w.dSae], data: w.bEnc },
      b_dec: { dtype, shape: [w.dIn], data: w.bDec },
      threshold: { dtype, shape: [w.dSae], data: w.threshold ?? [] },
    },
    options.compress,
  );
}

async function writeFolder(dir: string, files: Map<string, Buffer>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
  return dir;
}

export function writeSaeLensFolder(
  dir: string,
  w: SaeWeights,
  options?: SaeLensWriteOptions,
): Promise<string> {
  return writeFolder(dir, saeLensFiles(w, options));
}

export function writeSparsifyFolder(
  dir: string,
  w: SaeWeights,
  options: SparsifyWriteOptions,
): Promise<string> {
  return writeFolder(dir, sparsifyFiles(w, options));
}

/** Writes `dir`/params.npz and returns the folder. */
export function writeGemmaScopeNpz(
  dir: string,
  w: SaeWeights,
  options?: { dtype?: 'F32' | 'F16'; compress?: boolean },
): Promise<string> {
  return writeFolder(dir, new Map([['params.npz', gemmaScopeNpz(w, options)]]));
}

export interface SyntheticSaeWeights extends SaeWeights {
  wEnc: Float32Array;
  bEnc: Float32Array;
  bDec: Float32Array;
  threshold: Float32Array;
}

/**
 * Random SAE weights from a seed (deterministic): W_enc entries uniform in ±1/sqrt(d_in) so
 * pre-activations stay O(1), biases small, thresholds in [0, 0.2).
 */
export function syntheticSaeWeights(dIn: number, dSae: number, seed = 1): SyntheticSaeWeights {
  let s = seed >>> 0 || 1;
  const rand = () => {
    // xorshift32: fast, and the same numbers on every platform.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const scale = 1 / Math.sqrt(dIn);
  return {
    dIn,
    dSae,
    wEnc: Float32Array.from({ length: dIn * dSae }, () => (rand() * 2 - 1) * scale),
    bEnc: Float32Array.from({ length: dSae }, () => (rand() * 2 - 1) * 0.1),
    bDec: Float32Array.from({ length: dIn }, () => (rand() * 2 - 1) * 0.1),
    threshold: Float32Array.from({ length: dSae }, () => rand() * 0.2),
  };
}
