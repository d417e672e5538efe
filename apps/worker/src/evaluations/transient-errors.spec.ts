import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTransientError } from '../../../../libs/common/src/index.js';
import { EncodeInputError, SaeFormatError } from '../../../../libs/sae/src/index.js';
import { GpuDeviceLostError, GpuOutOfMemoryError } from '../../../../libs/sae/src/webgpu/errors.js';
import { HandBackEvaluationError, outcomeOf, RetryEvaluationError } from '../transport/job-outcome.js';

// What the worker classifies, with the engine's own error classes.
test('GPU device loss and out-of-memory are not transient: retried up to MAX_DELIVER, then failed', () => {
  // An SAE too large for the device runs it out of memory on every delivery; that must end.
  assert.equal(isTransientError(new GpuDeviceLostError('device lost: destroyed')), false);
  assert.equal(isTransientError(new GpuOutOfMemoryError('buffer of 3 GiB over the budget')), false);
});

test('bad input is not transient: it fails the evaluation', () => {
  assert.equal(isTransientError(new SaeFormatError('evaluation x activations', 'is truncated')), false);
  assert.equal(isTransientError(new EncodeInputError('activations have d_in 768, the SAE 2304')), false);
});

test('the transport reads the transient outcomes', () => {
  assert.deepEqual(outcomeOf(new RetryEvaluationError('claim failed: connect ECONNREFUSED', true)), {
    kind: 'retry',
    message: 'claim failed: connect ECONNREFUSED',
    transient: true,
  });
  assert.deepEqual(outcomeOf(new RetryEvaluationError('SAE file has the wrong size')), {
    kind: 'retry',
    message: 'SAE file has the wrong size',
  });
  assert.deepEqual(outcomeOf(new HandBackEvaluationError('Connection terminated unexpectedly')), {
    kind: 'handBack',
    message: 'Connection terminated unexpectedly',
  });
  // The same outcomes after Nest's RPC layer has turned them into plain objects.
  assert.deepEqual(outcomeOf({ kind: 'handBack', message: 'x' }), { kind: 'handBack', message: 'x' });
  assert.deepEqual(outcomeOf({ kind: 'retry', message: 'x', transient: true }), {
    kind: 'retry',
    message: 'x',
    transient: true,
  });
});
