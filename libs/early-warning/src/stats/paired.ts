import { studentTTwoSidedP } from './distributions.js';

export interface PairedTest {
  /** Number of prompts (pairs). */
  n: number;
  /** Mean of (current − baseline) over prompts. */
  meanDiff: number;
  /** Sample standard deviation of the differences. */
  sdDiff: number;
  /** Standard error of the mean difference, sdDiff / √n. */
  se: number;
  /** meanDiff / se; ±Infinity when every difference is the same non-zero value. */
  t: number;
  df: number;
  /** Two-sided p-value. */
  p: number;
  /** One-sided p-value for an increase (H1: mean difference > 0). */
  pUp: number;
}

/**
 * Student's paired t-test of `current` against `baseline` measured on the same prompts, in the same
 * order. Returns null with fewer than two pairs (no spread to estimate) or arrays of different lengths.
 */
export function pairedTTest(current: ArrayLike<number>, baseline: ArrayLike<number>): PairedTest | null {
  const n = current.length;
  if (n < 2 || baseline.length !== n) return null;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += current[i] - baseline[i];
  const meanDiff = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = current[i] - baseline[i] - meanDiff;
    ss += d * d;
  }
  const sdDiff = Math.sqrt(ss / (n - 1));
  const se = sdDiff / Math.sqrt(n);
  const df = n - 1;
  if (se === 0) {
    // Every prompt moved by exactly the same amount: no uncertainty left (or no change at all).
    if (meanDiff === 0) return { n, meanDiff, sdDiff, se, t: 0, df, p: 1, pUp: 0.5 };
    const up = meanDiff > 0;
    return { n, meanDiff, sdDiff, se, t: up ? Infinity : -Infinity, df, p: 0, pUp: up ? 0 : 1 };
  }
  const t = meanDiff / se;
  // One incomplete-beta evaluation serves both p-values: P(T ≥ t) is half the two-sided tail on t's side.
  const p = studentTTwoSidedP(t, df);
  return { n, meanDiff, sdDiff, se, t, df, p, pUp: t >= 0 ? p / 2 : 1 - p / 2 };
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export function sampleSd(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i] - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}
