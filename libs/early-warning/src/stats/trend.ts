import { normalCdf } from './distributions.js';

export interface MannKendall {
  n: number;
  /** Kendall's S: Σ_{i<j} sign(x_j − x_i). */
  s: number;
  /** Var(S) under H0, corrected for ties. */
  varS: number;
  /** Normal approximation with continuity correction. */
  z: number;
  /** Kendall's tau-a, S / (n(n−1)/2). */
  tau: number;
  /** One-sided p-value for an upward trend. */
  pUp: number;
  /** Two-sided p-value. */
  p: number;
}

/**
 * The Mann–Kendall trend test (Mann 1945, Kendall 1975) with the tie correction
 * Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 over groups of t tied values, and the normal
 * approximation Z = (S − sign(S)) / √Var(S). Needs n ≥ 3.
 */
export function mannKendall(xs: readonly number[]): MannKendall | null {
  const n = xs.length;
  if (n < 3) return null;
  let s = 0;
  for (let i = 0; i < n - 1; i++) {
    for (let j = i + 1; j < n; j++) s += Math.sign(xs[j] - xs[i]);
  }
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let ties = 0;
  for (const t of counts.values()) if (t > 1) ties += t * (t - 1) * (2 * t + 5);
  const varS = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  const z = varS > 0 && s !== 0 ? (s - Math.sign(s)) / Math.sqrt(varS) : 0;
  return {
    n,
    s,
    varS,
    z,
    tau: s / ((n * (n - 1)) / 2),
    pUp: 1 - normalCdf(z),
    p: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))),
  };
}

/** Theil–Sen estimator: the median of pairwise slopes (pairs with equal x skipped). */
export function theilSen(
  xs: readonly number[],
  ys: readonly number[],
): { slope: number; intercept: number } | null {
  const n = Math.min(xs.length, ys.length);
  const slopes: number[] = [];
  for (let i = 0; i < n - 1; i++) {
    for (let j = i + 1; j < n; j++) {
      if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
    }
  }
  if (!slopes.length) return null;
  const slope = median(slopes);
  return { slope, intercept: median(ys.slice(0, n).map((y, i) => y - slope * xs[i])) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
