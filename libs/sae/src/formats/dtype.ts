/**
 * Element types and conversions between them. Weights and activations are computed on in f32; files may
 * hold f16 or bf16, and the writers (tests, the simulator) produce those from f32.
 */
import { endianness } from 'node:os';

export type FloatDtype = 'F32' | 'F16' | 'BF16';

/** Bytes per element of every dtype a safetensors header may name (so offsets can be checked). */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
};

export const LITTLE_ENDIAN = endianness() === 'LE';

let halfTable: Float32Array | undefined;

/** All 65536 f16 values as f32: one table lookup per element is the fastest conversion in JS. */
function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfBitsToFloat(h);
  }
  return halfTable;
}

export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 → f16 bits, round to nearest even (what numpy and torch do), overflow to ±Inf, NaN kept NaN. */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit 1 into place, rounding to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the correct rounding (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** f32 → bf16 bits, round to nearest even (torch's conversion), NaN kept NaN. */
export function floatToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Elements of `bytes` (little-endian `dtype`) as f32. An F32 buffer that is 4-byte aligned is returned
 * as a view, not a copy, so a multi-GB weights file is not held twice.
 */
export function toFloat32(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const n = bytes.byteLength / (dtype === 'F32' ? 4 : 2);
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0)
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    const out = new Float32Array(n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const halves = readUint16(bytes, n);
  const out = new Float32Array(n);
  if (dtype === 'F16') {
    const table = halfToFloatTable();
    for (let i = 0; i < n; i++) out[i] = table[halves[i]];
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = halves[i] << 16;
  }
  return out;
}

function readUint16(bytes: Uint8Array, n: number): Uint16Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
  return out;
}

/** f32 values encoded as little-endian `dtype` bytes (for writers). */
export function fromFloat32(values: ArrayLike<number>, dtype: FloatDtype): Uint8Array {
  const n = values.length;
  if (dtype === 'F32') {
    const out = new Uint8Array(n * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i], true);
    return out;
  }
  const out = new Uint8Array(n * 2);
  const view = new DataView(out.buffer);
  const encode = dtype === 'F16' ? floatToHalfBits : floatToBf16Bits;
  for (let i = 0; i < n; i++) view.setUint16(i * 2, encode(values[i]), true);
  return out;
}

/** Rounds f32 values through `dtype` and back: what a reader of a file written in `dtype` will see. */
export function roundTrip(values: ArrayLike<number>, dtype: FloatDtype): Float32Array {
  return toFloat32(fromFloat32(values, dtype), dtype).slice();
}
