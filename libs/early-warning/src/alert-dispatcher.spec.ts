import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, signBody } from './alert-dispatcher.service.js';
import { earlyWarningOptions } from './options.js';

test('webhook signature: HMAC-SHA256 of the exact body, hex, sha256= prefix (RFC 4231 test case 2)', () => {
  assert.equal(
    signBody('Jefe', 'what do ya want for nothing?'),
    'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('retry delays double from the base and stop growing at an hour', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((a) => backoffMs(1000, a)),
    [1000, 2000, 4000, 8000],
  );
  assert.equal(backoffMs(1000, 40), 3_600_000);
});

test('delivery settings from the environment, with defaults and a message naming a bad variable', () => {
  assert.deepEqual(earlyWarningOptions({}), {
    sweepMs: 2000,
    webhookRetryBaseMs: 1000,
    webhookMaxAttempts: 8,
    webhookTimeoutMs: 5000,
  });
  assert.equal(earlyWarningOptions({ WEBHOOK_MAX_ATTEMPTS: '3' }).webhookMaxAttempts, 3);
  assert.throws(() => earlyWarningOptions({ ALERT_SWEEP_MS: 'soon' }), /ALERT_SWEEP_MS must be an integer/);
  assert.throws(() => earlyWarningOptions({ WEBHOOK_MAX_ATTEMPTS: '0' }), /between 1 and 100/);
});
