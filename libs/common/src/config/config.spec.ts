import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.js';

/** loadConfig with only the given variables set (nothing from this process's environment). */
function load(env: Record<string, string>) {
  return loadConfig(env);
}

test('ACTIVATIONS_RETENTION_HOURS: 168 by default, whole hours from 0, or forever', () => {
  assert.equal(load({}).activationsRetentionHours, 168);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: '' }).activationsRetentionHours, 168);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: '0' }).activationsRetentionHours, 0);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: ' 720 ' }).activationsRetentionHours, 720);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: '876000' }).activationsRetentionHours, 876_000);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: 'forever' }).activationsRetentionHours, null);
  assert.equal(load({ ACTIVATIONS_RETENTION_HOURS: 'Forever' }).activationsRetentionHours, null);
  assert.ok(CONFIG_VARIABLES.includes('ACTIVATIONS_RETENTION_HOURS'));
});

test('ACTIVATIONS_RETENTION_HOURS: anything else stops the process with a message naming it', () => {
  for (const bad of ['-1', '1.5', '7d', 'never', 'inf', '0x10']) {
    assert.throws(
      () => load({ ACTIVATIONS_RETENTION_HOURS: bad }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.variable === 'ACTIVATIONS_RETENTION_HOURS' &&
        err.message ===
          'Invalid configuration: ACTIVATIONS_RETENTION_HOURS must be a whole number of hours ' +
            `(0: delete once the evaluation is finished) or "forever", got "${bad}"`,
      bad,
    );
  }
  assert.throws(
    () => load({ ACTIVATIONS_RETENTION_HOURS: '876001' }),
    /ACTIVATIONS_RETENTION_HOURS must be at most 876000 hours \(100 years; "forever" keeps activations\), got 876001/,
  );
});
