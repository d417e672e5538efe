import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ENCODE_VARIANTS,
  encodeKernelSource,
  maxTextureColumns,
  padK,
  textureShape,
  TEXTURE_LAYOUT,
} from './encode-kernel.js';

test("d_in pads to a multiple of 64 (x' texture rows of whole 256-byte copies)", () => {
  assert.deepEqual([1, 64, 65, 300, 1024, 2304].map(padK), [64, 64, 128, 320, 1024, 2304]);
  for (const dIn of [1, 37, 300, 4095]) assert.equal((padK(dIn) * 4) % 256, 0);
});

test('the blocked W_enc texture: 8192 texels wide, one texture row per 1024 block rows', () => {
  assert.equal(TEXTURE_LAYOUT.blockQuads << TEXTURE_LAYOUT.rowsLog2, 8192);
  // 1500 latents = 375 quads = 47 blocks × 320 rows = 15 040 block rows → 15 texture rows.
  assert.deepEqual(textureShape(1500, 320), [8192, 15]);
  assert.deepEqual(textureShape(1, 64), [8192, 1]);
  // d_in 4096 on an adapter with the minimum maxTextureDimension2D: 2048 blocks of 32 latents.
  assert.equal(maxTextureColumns(4096, 8192), 65536);
  assert.deepEqual(textureShape(65536, 4096), [8192, 8192]);
  assert.equal(maxTextureColumns(16384, 8192), 16384);
});

test("an x' texture variant needs kb 32 (one texel of 4 values from each of 8 lanes per step)", () => {
  assert.throws(
    () =>
      encodeKernelSource({
        variant: { ...ENCODE_VARIANTS[0], kb: 8 },
        mode: 'stats',
        architecture: 'standard',
        f16: false,
      }),
    /xTexture needs subgroups and kb = 32/,
  );
});
