/**
 * One step of the one-sided (upper) CUSUM of Page (1954): S_i = max(0, S_{i−1} + x_i − k). With x in
 * standard units, k (the allowance) is half the shift one wants to detect and an alarm is raised when
 * S_i > h.
 */
export function cusumStep(previous: number, x: number, k: number): number {
  return Math.max(0, previous + x - k);
}

/** The upper CUSUM path over a series, starting from S_0 = 0, and the first index where S exceeds h. */
export function cusum(
  xs: readonly number[],
  k: number,
  h: number,
): { s: number[]; firstAlarm: number | null } {
  const s: number[] = [];
  let prev = 0;
  let firstAlarm: number | null = null;
  for (let i = 0; i < xs.length; i++) {
    prev = cusumStep(prev, xs[i], k);
    s.push(prev);
    if (firstAlarm === null && prev > h) firstAlarm = i;
  }
  return { s, firstAlarm };
}
