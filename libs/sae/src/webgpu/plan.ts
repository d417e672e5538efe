/**
 * Memory planning for one encode, decided before anything is allocated: how W_enc is split into
 * column shards (each within the adapter's maxStorageBufferBindingSize, or an injected smaller limit),
 * how many tokens go through the device per chunk, and how many bytes the whole encode holds.
 */
import { padK } from './encode-kernel.js';

export interface PlanInput {
  dIn: number;
  dSae: number;
  nTokens: number;
  nPrompts: number;
  nDirs: number;
  topk: boolean;
  /** Bytes per W_enc element on the device (4 for f32, 2 for f16). */
  weightBytes: number;
  /** x' is also copied into a texture of the chunk's tokens (xTexture variants). */
  xTexture?: boolean;
  /** Largest storage binding the device accepts. */
  maxBinding: number;
  /** Largest W_enc shard in bytes (tests force sharding with a small one); default maxBinding. */
  shardBytes?: number;
  /** Upper bound on tokens per chunk; default 4096. */
  chunkTokens?: number;
  /** Device bytes the plan may use; a plan above it is refused before allocating. */
  budgetBytes?: number;
}

export interface Shard {
  colBase: number;
  cols: number;
}

export interface EncodePlanGpu {
  /** d_in rounded up to K_ALIGN: the row length of x' and the row count of every W_enc shard. */
  kPad: number;
  shards: Shard[];
  chunkTokens: number;
  bytes: { weights: number; stats: number; chunk: number; total: number };
}

/** Shard widths are multiples of this, so the encode's workgroups tile a shard without remainders. */
export const COL_ALIGN = 64;

export function shardColumns(dSae: number, kPad: number, weightBytes: number, shardBytes: number): Shard[] {
  const fit = Math.floor(shardBytes / (kPad * weightBytes));
  if (fit < 1) throw new RangeError(`one column of W_enc (${kPad * weightBytes} B) exceeds the shard limit`);
  // Aligned widths when the limit allows one aligned block, else whatever fits (tiny test limits).
  const width = fit >= COL_ALIGN ? fit - (fit % COL_ALIGN) : fit;
  const shards: Shard[] = [];
  for (let c = 0; c < dSae; c += width) shards.push({ colBase: c, cols: Math.min(width, dSae - c) });
  return shards;
}

export function planEncode(input: PlanInput): EncodePlanGpu {
  const { dIn, dSae, nTokens, nPrompts, nDirs, topk, weightBytes, maxBinding } = input;
  const kPad = padK(dIn);
  const shards = shardColumns(dSae, kPad, weightBytes, Math.min(input.shardBytes ?? maxBinding, maxBinding));
  // Per token of a chunk: raw row, x' row (twice with an x' texture), prompt id, and for topk a full
  // row of pre-activations.
  const perToken = 4 * (dIn + kPad * (input.xTexture ? 2 : 1) + 1) + (topk ? 4 * dSae + 8 : 0);
  const bindingCap = Math.floor(maxBinding / Math.max(4 * kPad, topk ? 4 * dSae : 0));
  const chunkTokens = Math.max(1, Math.min(nTokens, input.chunkTokens ?? 4096, bindingCap));
  const weights = shards.reduce((s, sh) => s + align4(kPad * sh.cols * weightBytes) + 8 * sh.cols, 0);
  const stats = 4 * (3 * dSae + nPrompts * dSae) + 4 * nTokens * nDirs + 4 * (nPrompts + 1) * (nDirs + 1);
  const chunk = perToken * chunkTokens;
  const total = weights + stats + chunk;
  return { kPad, shards, chunkTokens, bytes: { weights, stats, chunk, total } };
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
