/** Model diffing: the latents whose mean activation rose most over the baseline, among all latents. */

export interface RisingLatent {
  index: number;
  mean: number;
  baselineMean: number;
  delta: number;
}

/** Reads a float32 little-endian vector (the layout of evaluation_vectors) without alignment assumptions. */
export function decodeF32le(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4) throw new RangeError(`f32le vector of ${bytes.byteLength} bytes`);
  const out = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export function encodeF32le(values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

/**
 * The k latents with the largest positive increase current − baseline, largest first (ties by index).
 * One pass with a small sorted buffer: O(d_sae · log k) for the usual case, no full sort of a wide SAE.
 */
export function topRising(current: Float32Array, baseline: Float32Array, k: number): RisingLatent[] {
  if (current.length !== baseline.length) {
    throw new RangeError(`vectors differ in length: ${current.length} vs ${baseline.length}`);
  }
  const top: RisingLatent[] = [];
  for (let i = 0; i < current.length; i++) {
    const delta = current[i] - baseline[i];
    if (!(delta > 0)) continue;
    if (top.length === k && delta <= top[top.length - 1].delta) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (top[mid].delta >= delta) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, { index: i, mean: current[i], baselineMean: baseline[i], delta });
    if (top.length > k) top.pop();
  }
  return top;
}
