import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeriodicTask } from './periodic-task.js';

test('a tick during a pass is skipped, a failed pass is reported, stop waits for the pass in flight', async () => {
  const errors: unknown[] = [];
  let passes = 0;
  let release!: () => void;
  const task = new PeriodicTask(
    async () => {
      passes++;
      if (passes === 2) throw new Error('second pass fails');
      if (passes === 3) await new Promise<void>((r) => (release = r));
    },
    (err) => errors.push(err),
  );
  await task.tick();
  await task.tick();
  assert.equal(passes, 2);
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ['second pass fails'],
  );
  const third = task.tick();
  await task.tick(); // skipped: the third pass is still running
  assert.equal(passes, 3);
  let stopped = false;
  const stopping = task.stop().then(() => (stopped = true));
  await sleep(20);
  assert.equal(stopped, false, 'stop waits for the pass in flight');
  release();
  await Promise.all([third, stopping]);
  assert.equal(stopped, true);
});
