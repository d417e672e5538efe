import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryFailedError } from 'typeorm';
import { toErrorBody } from './http-errors.filter.js';

/** A pg DatabaseError as TypeORM wraps it. */
function queryFailed(code: string, message: string): QueryFailedError {
  return new QueryFailedError('INSERT …', [], Object.assign(new Error(message), { code }));
}

test('a value Postgres cannot store (NUL in text, real out of range) is a 400 naming the problem', () => {
  const nul = toErrorBody(queryFailed('22021', 'invalid byte sequence for encoding "UTF8": 0x00'));
  assert.equal(nul.statusCode, 400);
  assert.match(nul.message, /cannot be stored: invalid byte sequence for encoding "UTF8": 0x00/);
  assert.equal(toErrorBody(queryFailed('22P05', 'unsupported Unicode escape sequence')).statusCode, 400);
  assert.equal(toErrorBody(queryFailed('22003', '"1e+300" is out of range for type real')).statusCode, 400);
});

test('Postgres or NATS down is a 503 (retry), not a 500', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  assert.equal(toErrorBody(refused).statusCode, 503);
  assert.equal(toErrorBody(new Error('Connection terminated unexpectedly')).statusCode, 503);
  assert.equal(
    toErrorBody(queryFailed('57P01', 'terminating connection due to administrator command')).statusCode,
    503,
  );
  assert.equal(toErrorBody(queryFailed('57P03', 'the database system is starting up')).statusCode, 503);
  assert.equal(toErrorBody(Object.assign(new Error('timeout'), { name: 'TimeoutError' })).statusCode, 503);
});

test('anything else stays a 500 that reveals nothing of its cause', () => {
  const body = toErrorBody(queryFailed('42P01', 'relation "secret_table" does not exist'));
  assert.equal(body.statusCode, 500);
  assert.doesNotMatch(body.message, /secret_table/);
  assert.equal(toErrorBody(new TypeError('x is undefined')).statusCode, 500);
});
