import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  floatToBf16Bits,
  floatToHalfBits,
  fromFloat32,
  halfBitsToFloat,
  roundTrip,
  toFloat32,
} from './dtype.js';

test('f16 bits decode the IEEE half values', () => {
  assert.equal(halfBitsToFloat(0x3c00), 1);
  assert.equal(halfBitsToFloat(0xc000), -2);
  assert.equal(halfBitsToFloat(0x7bff), 65504);
  assert.equal(halfBitsToFloat(0x0001), 2 ** -24);
  assert.equal(halfBitsToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfBitsToFloat(0x7e00)));
});

test('f32 → f16 rounds to nearest even, overflows to Inf, keeps subnormals', () => {
  assert.equal(floatToHalfBits(1), 0x3c00);
  assert.equal(floatToHalfBits(-2), 0xc000);
  assert.equal(floatToHalfBits(65504), 0x7bff);
  assert.equal(floatToHalfBits(65520), 0x7c00); // halfway to the next (absent) value rounds up to Inf
  assert.equal(floatToHalfBits(1e6), 0x7c00);
  assert.equal(floatToHalfBits(2 ** -24), 0x0001);
  assert.equal(floatToHalfBits(2 ** -26), 0); // below half the smallest subnormal
  // 1 + 2^-11 is exactly between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  assert.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00);
  assert.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN))));
});

test('f32 → bf16 rounds to nearest even and keeps NaN', () => {
  assert.equal(floatToBf16Bits(1), 0x3f80);
  assert.equal(floatToBf16Bits(-1.5), 0xbfc0);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: rounds to even (1).
  assert.equal(floatToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(floatToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.ok(Number.isNaN(toFloat32(fromFloat32([NaN], 'BF16'), 'BF16')[0]));
});

test('toFloat32 returns a view for aligned F32 and converts F16/BF16/unaligned F32', () => {
  const values = [0.5, -3.25, 1024, 0];
  const f32 = fromFloat32(values, 'F32');
  const view = toFloat32(f32, 'F32');
  assert.equal(view.buffer, f32.buffer, 'aligned F32 is not copied');
  assert.deepEqual([...view], values);
  const shifted = new Uint8Array(f32.byteLength + 1);
  shifted.set(f32, 1);
  assert.deepEqual([...toFloat32(shifted.subarray(1), 'F32')], values);
  assert.deepEqual([...roundTrip(values, 'F16')], values);
  assert.deepEqual([...roundTrip(values, 'BF16')], values);
  const odd = new Uint8Array(fromFloat32(values, 'F16').byteLength + 1);
  odd.set(fromFloat32(values, 'F16'), 1);
  assert.deepEqual([...toFloat32(odd.subarray(1), 'F16')], values);
});
