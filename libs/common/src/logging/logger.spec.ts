import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Logger } from '@nestjs/common';
import { pino } from 'pino';
import { PinoNestLogger } from './logger.js';

function capture(): { logger: PinoNestLogger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString());
      done();
    },
  });
  return {
    logger: new PinoNestLogger(pino({ level: 'trace' }, stream)),
    lines: () =>
      out
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('fields and a text through a Nest Logger: the text is the msg, the class the context', () => {
  const { logger, lines } = capture();
  Logger.overrideLogger(logger);
  try {
    const log = new Logger('EvaluationProcessor');
    log.warn({ evaluationId: 'e1', delivery: 2 }, 'infrastructure error; will retry');
    log.error({ evaluationId: 'e2' }, 'failed 5 times');
    log.error('plain text', 'Error: x\n    at f (a.js:1:1)');
    const [warn, error, plain] = lines();
    assert.equal(warn.msg, 'infrastructure error; will retry');
    assert.equal(warn.evaluationId, 'e1');
    assert.equal(warn.delivery, 2);
    assert.equal(warn.context, 'EvaluationProcessor');
    assert.equal(error.msg, 'failed 5 times');
    assert.equal(error.stack, undefined);
    assert.equal(plain.msg, 'plain text');
    assert.match(String(plain.stack), /at f/);
  } finally {
    Logger.overrideLogger(false);
  }
});
