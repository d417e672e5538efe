import { type EncodeStats } from '../../../../libs/sae/src/index.js';
import { type EvaluationResults } from './evaluation-results.repository.js';

/** Top latents stored per evaluation. */
export const TOP_LATENTS = 20;
/**
 * Up to this many latents the full mean and frac_active vectors live in Postgres as bytea (2 MiB per
 * evaluation at the limit); wider SAEs store them in the object store and keep the key in Postgres.
 */
export const MAX_INLINE_VECTOR_LATENTS = 262_144;

/**
 * Maps the engine's statistics to the rows of one evaluation: the watched latents (with per-prompt means),
 * the watched directions, the top latents by mean and the full vectors for model diffing.
 */
export function toResults(
  stats: EncodeStats,
  watchLatents: number[],
  timings: Record<string, number>,
  vectorsObjectKey: string | null,
): EvaluationResults {
  const { dSae, nPrompts } = stats;
  const latents = watchLatents
    .filter((i) => i < dSae)
    .map((index) => ({
      index,
      mean: stats.mean[index],
      fracActive: stats.fracActive[index],
      max: stats.max[index],
      promptMeans: stats.promptMean
        ? Array.from({ length: nPrompts }, (_, p) => stats.promptMean![p * dSae + index])
        : [],
    }));
  const inline = vectorsObjectKey === null;
  return {
    backend: stats.backend,
    adapter: stats.adapter,
    nPrompts,
    timings,
    latents,
    directions: stats.directions.map((d) => ({
      name: d.name,
      mean: d.mean,
      promptMeans: Array.from(d.promptMeans),
    })),
    top: topByMean(stats.mean, TOP_LATENTS),
    vectors: {
      dSae,
      mean: inline ? f32le(stats.mean) : null,
      fracActive: inline ? f32le(stats.fracActive) : null,
      objectKey: vectorsObjectKey,
    },
  };
}

/** The k largest means, largest first (ties by lower index), in one pass without sorting all d_sae. */
export function topByMean(mean: Float32Array, k: number): { index: number; mean: number }[] {
  const top: { index: number; mean: number }[] = [];
  for (let i = 0; i < mean.length; i++) {
    const v = mean[i];
    if (top.length === k && v <= top[k - 1].mean) continue;
    let at = top.length;
    while (at > 0 && top[at - 1].mean < v) at--;
    top.splice(at, 0, { index: i, mean: v });
    if (top.length > k) top.pop();
  }
  return top;
}

/** Float32 little-endian bytes (the host order on every platform Node ships for). */
export function f32le(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** mean then frac_active, each d_sae f32le: the object written for SAEs too wide to inline. */
export function vectorsObject(stats: EncodeStats): Uint8Array {
  const out = Buffer.alloc(stats.dSae * 8);
  f32le(stats.mean).copy(out, 0);
  f32le(stats.fracActive).copy(out, stats.dSae * 4);
  return out;
}
