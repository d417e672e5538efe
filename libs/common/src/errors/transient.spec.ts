import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClosedConnectionError, RequestError, TimeoutError } from '@nats-io/nats-core';
import pg from 'pg';
import { QueryFailedError } from 'typeorm';
import { isInfrastructureUnavailable, isTransientError } from './transient.js';

/** A pg DatabaseError with a SQLSTATE, as TypeORM wraps it. */
function queryFailed(code: string, message: string): QueryFailedError {
  const driverError = Object.assign(new pg.DatabaseError(message, 0, 'error'), { code });
  return new QueryFailedError('UPDATE evaluation …', [], driverError);
}

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

test('Postgres down, restarting or dropping connections is transient', () => {
  const cases: [string, unknown][] = [
    ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['connection reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['crash: connection dropped', new Error('Connection terminated unexpectedly')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['57P01 admin shutdown', queryFailed('57P01', 'terminating connection due to administrator command')],
    ['57P02 crash shutdown', queryFailed('57P02', 'terminating connection because of crash of another')],
    ['57P03 starting up', queryFailed('57P03', 'the database system is starting up')],
    ['08006 connection failure', queryFailed('08006', 'connection failure')],
    ['08001 cannot connect', queryFailed('08001', 'could not connect')],
    // The bare pg error, without TypeORM's wrapper.
    ['57P03 bare', withCode('the database system is shutting down', '57P03')],
    // Node 20 tries every address of localhost and reports them together.
    [
      'AggregateError of refusals',
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], 'connect failed'),
    ],
    // An error that carries the outage as its cause.
    ['wrapped cause', new Error('claim failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') })],
  ];
  for (const [what, err] of cases) {
    assert.equal(isTransientError(err), true, what);
    assert.equal(isInfrastructureUnavailable(err), true, what);
  }
});

test('NATS unreachable or timing out (an object-store read) is transient', () => {
  const cases: [string, unknown][] = [
    ['TimeoutError', new TimeoutError()],
    ['RequestError around a timeout', new RequestError('timeout', { cause: new TimeoutError() })],
    ['closed connection', new ClosedConnectionError()],
    [
      'no responders',
      Object.assign(new Error("no responders: '$JS.API.STREAM.MSG.GET'"), { name: 'NoResponders' }),
    ],
  ];
  for (const [what, err] of cases) {
    assert.equal(isTransientError(err), true, what);
    assert.equal(isInfrastructureUnavailable(err), true, what);
  }
});

test('retry-me SQLSTATEs are transient, not an outage', () => {
  for (const err of [
    queryFailed('40001', 'could not serialize access due to concurrent update'),
    queryFailed('40P01', 'deadlock detected'),
    queryFailed('53300', 'sorry, too many clients already'),
  ]) {
    assert.equal(isTransientError(err), true, err.message);
    // The API answers these 500 (or the route retries them); they are not "Postgres or NATS is down".
    assert.equal(isInfrastructureUnavailable(err), false, err.message);
  }
});

test('errors of the evaluation itself are not transient', () => {
  const cases: [string, unknown][] = [
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['wrong-size SAE file', new Error('SAE file sae_weights.safetensors has the wrong size')],
    ['unique violation', queryFailed('23505', 'duplicate key value violates unique constraint')],
    ['NUL in text', queryFailed('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
    ['a code that only looks like an errno', withCode('no such file', 'ENOENT')],
    // libs/sae's GPU errors are checked with the real classes in apps/worker (transient-errors.spec.ts).
    [
      'retryable GPU error',
      Object.assign(new Error('device lost'), { name: 'GpuDeviceLostError', retryable: true }),
    ],
    ['not an error', 'ECONNREFUSED'],
    ['null', null],
    ['undefined', undefined],
  ];
  for (const [what, err] of cases) {
    assert.equal(isTransientError(err), false, what);
    assert.equal(isInfrastructureUnavailable(err), false, what);
  }
});

test('a cycle of causes ends', () => {
  const a = new Error('a') as Error & { cause?: unknown };
  const b = new Error('b', { cause: a });
  a.cause = b;
  assert.equal(isTransientError(a), false);
});
