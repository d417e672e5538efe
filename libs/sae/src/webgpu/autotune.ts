/**
 * Picks the encode tile configuration per adapter: on first use for an (adapter, shape class), each
 * candidate the device supports runs a short timed encode and the fastest wins; the choice is cached
 * for the life of the process, so the cost (a few pipeline compiles and runs) is paid once.
 */
import { type EncodeVariant } from './encode-kernel.js';

export interface TuneResult {
  key: string;
  /** Milliseconds per candidate (Infinity when it failed to compile or run). */
  times: Record<string, number>;
  chosen: string;
}

/** Relative difference below which two autotune timings are treated as equal. */
const TIE = 0.15;

const cache = new Map<string, Promise<{ variant: EncodeVariant; tune: TuneResult }>>();

/**
 * Shape class: what changes the best tiling. d_in sets the length of the inner loop (short ones are
 * dominated by the per-token epilogue), f16 the cost of a W_enc load.
 */
export function autotuneKey(adapter: string, kPad: number, f16: boolean): string {
  const dInClass = kPad <= 256 ? 'k256' : kPad <= 2048 ? 'k2048' : 'kbig';
  return `${adapter}|${dInClass}|${f16 ? 'f16' : 'f32'}`;
}

/** The cached choice for `key`, or the fastest of `candidates` by `time` (then cached). */
export async function pickVariant(
  key: string,
  candidates: readonly EncodeVariant[],
  time: (v: EncodeVariant) => Promise<number>,
): Promise<{ variant: EncodeVariant; tune?: TuneResult }> {
  const hit = cache.get(key);
  if (hit) return { variant: (await hit).variant };
  const run = (async () => {
    const times: Record<string, number> = {};
    for (const v of candidates) {
      try {
        times[v.name] = await time(v);
      } catch {
        times[v.name] = Infinity;
      }
    }
    // Short timings on a busy machine are noisy: candidates within TIE of the fastest count as equal
    // and the earliest in the list wins (ENCODE_VARIANTS is ordered by throughput measured on lavapipe).
    const fastest = Math.min(...Object.values(times));
    const best = candidates.find((v) => times[v.name] <= fastest * (1 + TIE));
    if (!best || !Number.isFinite(times[best.name]))
      throw new Error(`autotune: no encode variant ran (${key})`);
    return { variant: best, tune: { key, times, chosen: best.name } };
  })();
  cache.set(key, run);
  run.catch(() => cache.delete(key));
  const result = await run;
  return result;
}

/** Forgets every autotune choice (tests, or after a driver change). */
export function clearAutotuneCache(): void {
  cache.clear();
}
