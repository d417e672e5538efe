import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topByMean } from './results.js';

test('topByMean: the k largest, largest first, ties to the lower index', () => {
  const mean = Float32Array.from([0.5, 2, 2, -1, 7, 0.5, 3]);
  assert.deepEqual(
    topByMean(mean, 4).map((t) => t.index),
    [4, 6, 1, 2],
  );
  assert.equal(topByMean(mean, 20).length, 7);
  const big = Float32Array.from({ length: 10_000 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
  const sorted = Array.from(big.keys()).sort((a, b) => big[b] - big[a] || a - b);
  assert.deepEqual(
    topByMean(big, 20).map((t) => t.index),
    sorted.slice(0, 20),
  );
});
