/**
 * The SAE engine's vocabulary, shared by loaders, backends (WebGPU, CPU), the CLI, the worker and tests.
 * Everything is plain TypeScript: no Nest here.
 */

export type SaeFormat = 'saelens' | 'gemma-scope' | 'sparsify';
export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk';
export type NormalizeActivations = 'none' | 'constant_norm_rescale' | 'layer_norm';
/** Element type of a tensor in a file (safetensors spelling). */
export type Dtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

/** An SAE ready to encode with: weights in f32, the encoder as [d_in, d_sae] row-major. */
export interface Sae {
  format: SaeFormat;
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  /** Latents kept per token (topk only). */
  k?: number;
  /** [d_in, d_sae] row-major: pre-activation h[j] = Σ_i x[i]·wEnc[i·d_sae + j] + bEnc[j]. */
  wEnc: Float32Array;
  bEnc: Float32Array;
  bDec: Float32Array;
  /** JumpReLU thresholds [d_sae]. */
  threshold?: Float32Array;
  /** Subtract b_dec from the input before encoding. */
  applyBDecToInput: boolean;
  normalizeActivations: NormalizeActivations;
  /** dtype of the weights in the file they came from. */
  sourceDtype: Dtype;
  /** File or folder it was loaded from (for messages). */
  source: string;
}

export interface Activations {
  nTokens: number;
  dIn: number;
  /** [n_tokens, d_in] row-major. */
  data: Float32Array;
  /** [n_prompts + 1]: prompt p spans tokens promptOffsets[p] .. promptOffsets[p+1]-1. */
  promptOffsets?: Int32Array;
}

export interface Direction {
  name: string;
  /** [d_in]; statistics use x·v/‖v‖ on the raw activations. */
  vector: Float32Array;
}

export interface EncodeOptions {
  directions?: Direction[];
  /** Compute prompt_mean [n_prompts, d_sae] (needs promptOffsets). Default: when offsets are present. */
  promptMeans?: boolean;
}

/** Per-latent statistics of one batch, as defined in docs/engine.md. */
export interface EncodeStats {
  backend: 'webgpu' | 'cpu';
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", or "cpu". */
  adapter: string;
  nTokens: number;
  dSae: number;
  nPrompts: number;
  mean: Float32Array;
  fracActive: Float32Array;
  max: Float32Array;
  /** [n_prompts, d_sae] row-major, when prompt means were computed. */
  promptMean?: Float32Array;
  directions: { name: string; mean: number; promptMeans: Float32Array }[];
  /** Milliseconds: upload, encode (device work), readback, total. */
  timings: Record<string, number>;
}

/** A backend keeps prepared SAEs (e.g. weights uploaded to the GPU) between encodes. */
export interface EncodeBackend {
  readonly name: 'webgpu' | 'cpu';
  readonly adapter: string;
  encode(sae: Sae, activations: Activations, options?: EncodeOptions): Promise<EncodeStats>;
  /** Frees what this backend holds for the SAE (GPU buffers). */
  release(sae: Sae): void;
  /** Frees everything (device, buffers). */
  dispose(): Promise<void>;
  /** True once the backend can encode no more (its GPU device was lost): its owner makes a new one. */
  readonly lost: boolean;
}
