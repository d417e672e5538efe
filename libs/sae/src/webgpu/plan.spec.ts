import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COL_ALIGN, planEncode, shardColumns } from './plan.js';

test('W_enc larger than one binding is split into aligned column shards that cover every latent', () => {
  // 4096 × 131072 in f32 is 2 GiB: more than a 128 MiB binding holds.
  const shards = shardColumns(131072, 4096, 4, 128 * 2 ** 20);
  assert.equal(shards.length, 16);
  assert.ok(shards.every((s) => s.cols * 4096 * 4 <= 128 * 2 ** 20 && s.cols % COL_ALIGN === 0));
  assert.equal(
    shards.reduce((n, s) => n + s.cols, 0),
    131072,
  );
  shards.forEach((s, i) => i && assert.equal(s.colBase, shards[i - 1].colBase + shards[i - 1].cols));
});

test('a tiny shard limit still gives shards (narrower than the alignment) and a column that fits nowhere throws', () => {
  assert.deepEqual(shardColumns(5, 8, 4, 8 * 4 * 2), [
    { colBase: 0, cols: 2 },
    { colBase: 2, cols: 2 },
    { colBase: 4, cols: 1 },
  ]);
  assert.throws(() => shardColumns(5, 8, 4, 16), RangeError);
});

test('the plan pads d_in, bounds chunks by the binding limit and counts the bytes', () => {
  const plan = planEncode({
    dIn: 1000,
    dSae: 2 ** 21,
    nTokens: 100_000,
    nPrompts: 10,
    nDirs: 2,
    topk: true,
    weightBytes: 2,
    maxBinding: 128 * 2 ** 20,
  });
  assert.equal(plan.kPad, 1024);
  // A topk chunk holds every pre-activation of its tokens: 16 tokens × 2^21 latents × 4 B = 128 MiB.
  assert.equal(plan.chunkTokens, 16);
  assert.ok(plan.bytes.total === plan.bytes.weights + plan.bytes.stats + plan.bytes.chunk);
  const small = planEncode({
    dIn: 7,
    dSae: 3,
    nTokens: 1,
    nPrompts: 0,
    nDirs: 0,
    topk: false,
    weightBytes: 4,
    maxBinding: 128 * 2 ** 20,
  });
  assert.equal(small.kPad, 64);
  assert.equal(small.chunkTokens, 1);
});

test("an x' texture adds one more x' row per token of a chunk to the plan", () => {
  const input = { dIn: 1000, dSae: 4096, nTokens: 5000, nPrompts: 0, nDirs: 0, topk: false, weightBytes: 4 };
  const plain = planEncode({ ...input, maxBinding: 2 ** 30 });
  const xt = planEncode({ ...input, maxBinding: 2 ** 30, xTexture: true });
  assert.equal(xt.chunkTokens, 4096);
  assert.equal(xt.bytes.chunk - plain.bytes.chunk, 4096 * 4 * 1024);
});
