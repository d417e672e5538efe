/**
 * cfg.json of SAELens and sparsify, read with the defaults and older spellings those projects still accept.
 * See docs/engine.md for the table.
 */
import { SaeFormatError } from '../errors.js';
import { type NormalizeActivations, type SaeArchitecture } from '../types.js';
import { type Dim } from './assemble.js';

export const MAX_CFG_BYTES = 10_000_000;

export function parseCfgJson(bytes: Uint8Array, file: string): Record<string, unknown> {
  if (bytes.byteLength > MAX_CFG_BYTES) {
    throw new SaeFormatError(
      file,
      `is ${bytes.byteLength} bytes, too large for a cfg.json (at most ${MAX_CFG_BYTES})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new SaeFormatError(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SaeFormatError(file, 'is not a JSON object');
  }
  return json as Record<string, unknown>;
}

function fieldError(file: string, field: string, value: unknown, expected: string): SaeFormatError {
  return new SaeFormatError(file, `field "${field}" is ${JSON.stringify(value)}`, { expected });
}

function optionalDim(
  cfg: Record<string, unknown>,
  field: string,
  file: string,
  what: string,
): Dim | undefined {
  const v = cfg[field];
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw fieldError(file, field, v, 'a positive integer');
  return [v as number, `${what} from ${file.split('/').pop()}`];
}

export interface SaeLensSettings {
  architecture: SaeArchitecture;
  k?: number;
  kOrigin?: string;
  applyBDecToInput: boolean;
  normalizeActivations: NormalizeActivations;
  dIn?: Dim;
  dSae?: Dim;
}

const SAELENS_NORMALIZE: Record<string, NormalizeActivations> = {
  none: 'none',
  constant_norm_rescale: 'constant_norm_rescale',
  layer_norm: 'layer_norm',
  // Anthropic's April-update scaling: SAELens applies no run-time normalisation for it (the scale is
  // folded into the weights or applied by whoever feeds the SAE), so encoding is as for "none".
  expected_average_only_in: 'none',
};

/**
 * SAELens cfg.json (any version ≥ 1): `architecture` (default "standard"), `k` or, before 6.0,
 * `activation_fn_kwargs.k` with `activation_fn`/`activation_fn_str` "topk"; `apply_b_dec_to_input`
 * (default true); `normalize_activations` as a string, or a boolean (true meaning expected_average_only_in),
 * or null/absent for "none".
 */
export function parseSaeLensCfg(cfg: Record<string, unknown>, file: string): SaeLensSettings {
  const rawArch = cfg.architecture ?? 'standard';
  const activationFn = cfg.activation_fn ?? cfg.activation_fn_str ?? 'relu';
  const kwargs = cfg.activation_fn_kwargs as Record<string, unknown> | undefined;
  let architecture: SaeArchitecture;
  if (rawArch === 'standard' || rawArch === 'jumprelu' || rawArch === 'topk') architecture = rawArch;
  else throw fieldError(file, 'architecture', rawArch, '"standard", "jumprelu" or "topk"');
  if (architecture === 'standard') {
    // Before SAELens 6, a TopK SAE was a "standard" one with activation_fn_str "topk".
    if (activationFn === 'topk') architecture = 'topk';
    else if (activationFn !== 'relu') {
      const field = cfg.activation_fn !== undefined ? 'activation_fn' : 'activation_fn_str';
      throw fieldError(file, field, activationFn, '"relu" or "topk"');
    }
  }
  let k: number | undefined;
  let kOrigin: string | undefined;
  if (architecture === 'topk') {
    if (cfg.k !== undefined && cfg.k !== null) [k, kOrigin] = [cfg.k as number, 'cfg.json field "k"'];
    else if (kwargs && kwargs.k !== undefined)
      [k, kOrigin] = [kwargs.k as number, 'cfg.json field "activation_fn_kwargs.k"'];
    else
      throw new SaeFormatError(file, 'has a topk SAE without "k"', {
        expected: 'field "k" (or "activation_fn_kwargs": {"k": …})',
      });
    if (cfg.rescale_acts_by_decoder_norm === true) {
      throw fieldError(
        file,
        'rescale_acts_by_decoder_norm',
        true,
        'false (rescaling by decoder norms is not supported)',
      );
    }
  }
  const applyBDec = cfg.apply_b_dec_to_input ?? true;
  if (typeof applyBDec !== 'boolean')
    throw fieldError(file, 'apply_b_dec_to_input', applyBDec, 'true or false');
  let normalize = cfg.normalize_activations ?? 'none';
  if (typeof normalize === 'boolean') normalize = normalize ? 'expected_average_only_in' : 'none';
  if (typeof normalize !== 'string' || !(normalize in SAELENS_NORMALIZE)) {
    throw fieldError(
      file,
      'normalize_activations',
      normalize,
      `one of ${Object.keys(SAELENS_NORMALIZE)
        .map((s) => `"${s}"`)
        .join(', ')}`,
    );
  }
  return {
    architecture,
    k,
    kOrigin,
    applyBDecToInput: applyBDec,
    normalizeActivations: SAELENS_NORMALIZE[normalize],
    dIn: optionalDim(cfg, 'd_in', file, 'd_in'),
    dSae: optionalDim(cfg, 'd_sae', file, 'd_sae'),
  };
}

export interface SparsifySettings {
  k: number;
  applyBDecToInput: boolean;
  dIn?: Dim;
  /** num_latents when non-zero, else expansion_factor × d_in when both are known. */
  dSae?: Dim;
}

/**
 * EleutherAI sparsify cfg.json (SaeConfig + d_in): `k` (default 32), `num_latents` (0: expansion_factor ×
 * d_in), `expansion_factor` (default 32), `activation` ("topk"; "groupmax" is refused), `transcode` (a
 * transcoder does not subtract b_dec from its input). multi_topk, skip_connection and normalize_decoder
 * only change training or decoding.
 */
export function parseSparsifyCfg(cfg: Record<string, unknown>, file: string): SparsifySettings {
  const k = cfg.k ?? 32;
  if (!Number.isSafeInteger(k) || (k as number) < 1) throw fieldError(file, 'k', k, 'a positive integer');
  const activation = cfg.activation ?? 'topk';
  if (activation !== 'topk') throw fieldError(file, 'activation', activation, '"topk"');
  // Early versions (EleutherAI/sae) had "signed": top-k by absolute value, which this engine does not do.
  if (cfg.signed === true) throw fieldError(file, 'signed', true, 'false (signed top-k is not supported)');
  const transcode = cfg.transcode ?? false;
  if (typeof transcode !== 'boolean') throw fieldError(file, 'transcode', transcode, 'true or false');
  const dIn = optionalDim(cfg, 'd_in', file, 'd_in');
  let dSae: Dim | undefined;
  const numLatents = cfg.num_latents ?? 0;
  if (!Number.isSafeInteger(numLatents) || (numLatents as number) < 0) {
    throw fieldError(file, 'num_latents', numLatents, 'a non-negative integer');
  }
  if ((numLatents as number) > 0) dSae = [numLatents as number, 'd_sae from cfg.json "num_latents"'];
  else if (dIn) {
    const factor = cfg.expansion_factor ?? 32;
    if (!Number.isSafeInteger(factor) || (factor as number) < 1) {
      throw fieldError(file, 'expansion_factor', factor, 'a positive integer');
    }
    dSae = [(factor as number) * dIn[0], 'd_sae = expansion_factor × d_in from cfg.json'];
  }
  return { k: k as number, applyBDecToInput: !transcode, dIn, dSae };
}
