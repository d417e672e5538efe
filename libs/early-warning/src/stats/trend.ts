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
  const core = mannKendallCore(xs, 0, xs.length);
  if (!core) return null;
  const { n, s, varS, z } = core;
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
  const slope = theilSenSlope(xs, ys, 0, n);
  if (slope === null) return null;
  return { slope, intercept: median(ys.slice(0, n).map((y, i) => y - slope * xs[i])) };
}

/**
 * The median: the middle value of the values sorted ascending (the mean of the two middle ones for an even
 * count; NaN for none). A native sort of a Float64Array copy, which returns exactly what the stable
 * comparator sort `[...values].sort((a, b) => a − b)` would put in the middle (medianBySort, kept as the
 * reference the spec compares against): the same multiset in the same numeric order, and where the middle
 * is a zero, the sign the comparator sort would leave there (it keeps ±0 in input order; the typed sort
 * puts −0 first). Up to 64 values an insertion sort of the copy instead of the native sort. Input with a NaN, where the comparator sort's order is the engine's, takes the reference.
 */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v !== v) return medianBySort(Array.from(values));
    sorted[i] = v;
  }
  if (n <= 64) {
    // Insertion sort: for a handful of values (a trend window's slopes) faster than the native sort's call.
    for (let i = 1; i < n; i++) {
      const v = sorted[i];
      let j = i - 1;
      while (j >= 0 && sorted[j] > v) {
        sorted[j + 1] = sorted[j];
        j--;
      }
      sorted[j + 1] = v;
    }
  } else sorted.sort();
  const mid = n >> 1;
  return n % 2
    ? stableSortedAt(values, sorted, mid)
    : (stableSortedAt(values, sorted, mid - 1) + stableSortedAt(values, sorted, mid)) / 2;
}

/** The median as first written: a comparator sort of a copy. The reference for median. */
export function medianBySort(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * What a stable ascending comparator sort of `values` (no NaN) puts at index k, given their numeric sort.
 * Values that compare equal are bit-identical except for ±0, which that sort leaves in input order: the
 * zero at index k is then the (k − #negatives)-th zero of the input.
 */
function stableSortedAt(values: ArrayLike<number>, sorted: Float64Array, k: number): number {
  const v = sorted[k];
  if (v !== 0) return v;
  let negatives = 0;
  for (let i = 0; i < values.length; i++) if (values[i] < 0) negatives++;
  let z = k - negatives;
  for (let i = 0; i < values.length; i++) if (values[i] === 0 && z-- === 0) return values[i];
  return v;
}

/**
 * mannKendall(xs.slice(from, to))?.pUp without the copy and the two-sided p: what the trend detector
 * needs at every checkpoint.
 */
export function mannKendallPUp(xs: ArrayLike<number>, from: number, to: number): number | null {
  const core = mannKendallCore(xs, from, to);
  return core && 1 - normalCdf(core.z);
}

/** S, Var(S) and Z of the Mann–Kendall test over xs[from, to), without copying the window. */
function mannKendallCore(
  xs: ArrayLike<number>,
  from: number,
  to: number,
): { n: number; s: number; varS: number; z: number } | null {
  const n = to - from;
  if (n < 3) return null;
  let s = 0;
  for (let i = from; i < to - 1; i++) {
    for (let j = i + 1; j < to; j++) s += Math.sign(xs[j] - xs[i]);
  }
  // Σ over groups of t tied values of t(t−1)(2t+5) = Σ over values of (t−1)(2t+5), t its group's size;
  // values group as a Map's keys would (SameValueZero: NaN with NaN, −0 with 0). Small integers: exact in
  // any order.
  let ties = 0;
  for (let i = from; i < to; i++) {
    const x = xs[i];
    let t = 0;
    for (let j = from; j < to; j++) {
      const y = xs[j];
      if (y === x || (y !== y && x !== x)) t++;
    }
    if (t > 1) ties += (t - 1) * (2 * t + 5);
  }
  const varS = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  const z = varS > 0 && s !== 0 ? (s - Math.sign(s)) / Math.sqrt(varS) : 0;
  return { n, s, varS, z };
}

/**
 * theilSen(xs.slice(from, to), ys.slice(from, to))?.slope without the copies and the intercept (the
 * trend detector's per-checkpoint call); `scratch` holds the pairwise slopes when it is large enough.
 */
export function theilSenSlope(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  from: number,
  to: number,
  scratch?: Float64Array,
): number | null {
  const pairs = ((to - from) * (to - from - 1)) / 2;
  const slopes = scratch && scratch.length >= pairs ? scratch : new Float64Array(Math.max(0, pairs));
  let m = 0;
  for (let i = from; i < to - 1; i++) {
    for (let j = i + 1; j < to; j++) {
      if (xs[j] !== xs[i]) slopes[m++] = (ys[j] - ys[i]) / (xs[j] - xs[i]);
    }
  }
  if (!m) return null;
  return median(slopes.subarray(0, m));
}
