import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autotuneKey, clearAutotuneCache, pickVariant } from './autotune.js';
import { ENCODE_VARIANTS } from './encode-kernel.js';

const [a, b, c] = ENCODE_VARIANTS;

test('the fastest candidate wins; near-ties go to the earlier one; the choice is cached per key', async () => {
  clearAutotuneCache();
  const times = new Map([
    [a.name, 10.5],
    [b.name, 10],
    [c.name, 5],
  ]);
  let calls = 0;
  const time = async (v: typeof a) => {
    calls++;
    return times.get(v.name)!;
  };
  const first = await pickVariant('k1', [a, b, c], time);
  assert.equal(first.variant.name, c.name);
  assert.deepEqual(first.tune?.times, Object.fromEntries(times));
  // Within 15 % of the fastest counts as a tie: the earlier candidate wins.
  const tie = await pickVariant('k2', [a, b], time);
  assert.equal(tie.variant.name, a.name);
  const again = await pickVariant('k1', [a, b, c], time);
  assert.equal(again.variant.name, c.name);
  assert.equal(again.tune, undefined);
  assert.equal(calls, 5);
});

test('a candidate that fails is skipped; all failing is an error', async () => {
  clearAutotuneCache();
  const picked = await pickVariant('k3', [a, b], async (v) => {
    if (v === a) throw new Error('no compile');
    return 1;
  });
  assert.equal(picked.variant.name, b.name);
  await assert.rejects(
    pickVariant('k4', [a], async () => {
      throw new Error('no compile');
    }),
    /no encode variant ran/,
  );
});

test('shape classes separate d_in ranges and f16', () => {
  assert.notEqual(autotuneKey('x', 128, false), autotuneKey('x', 1024, false));
  assert.notEqual(autotuneKey('x', 1024, false), autotuneKey('x', 1024, true));
  assert.equal(autotuneKey('x', 512, false), autotuneKey('x', 2048, false));
});
