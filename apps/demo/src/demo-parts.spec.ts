import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { demoScenarios } from '../../../libs/simulate/src/index.js';
import { DEFAULT_DEMO_OPTIONS, parseDemoArgs, UsageError } from './args.js';
import { type Alert } from './client.js';
import { formatTable, summarizeRun } from './outcome.js';
import { formatRow, ProgressBoard } from './progress.js';

test('flags: defaults, values, errors', () => {
  assert.deepEqual(parseDemoArgs([]), DEFAULT_DEMO_OPTIONS);
  assert.deepEqual(
    parseDemoArgs(['--exit', '--d-in', '768', '--d-sae=16384', '--steps', '20', '--seed', '7']),
    {
      ...DEFAULT_DEMO_OPTIONS,
      exit: true,
      dIn: 768,
      dSae: 16384,
      checkpoints: 20,
      seed: 7,
    },
  );
  assert.throws(() => parseDemoArgs(['--d-sae', 'big']), /--d-sae needs an integer/);
  assert.throws(() => parseDemoArgs(['--steps', '2']), /between 4 and 200/);
  assert.throws(() => parseDemoArgs(['--fast']), /unknown flag --fast/);
  assert.throws(() => parseDemoArgs(['--help']), UsageError);
});

const alert = (a: Partial<Alert>): Alert => ({
  rule: 'threshold',
  severity: 'warning',
  status: 'open',
  openedAtStep: 0,
  ...a,
});

test('outcome: first warning, lead in checkpoints, watch alerts are not warnings, re-alignment resolved', () => {
  const scenarios = Object.fromEntries(demoScenarios(1, { checkpoints: 12 }).map((s) => [s.name, s]));
  const fifty = scenarios['contaminated-50'];
  const onset = fifty.plan.behaviouralOnsetStep!;
  const o = summarizeRun(fifty, [
    alert({ rule: 'trend', severity: 'watch', openedAtStep: 0 }),
    alert({ rule: 'cusum', severity: 'critical', openedAtStep: onset - 50 }),
    alert({ openedAtStep: onset - 100 }),
  ]);
  assert.equal(o.firstWarningStep, onset - 100);
  assert.equal(o.firstWarningRule, 'threshold');
  assert.equal(o.leadCheckpoints, 2);
  assert.equal(o.watchCount, 1);
  assert.equal(o.resolved, null);

  const benign = summarizeRun(scenarios['benign-a'], []);
  assert.equal(benign.firstWarningStep, null);
  assert.equal(benign.leadCheckpoints, null);

  const realigned = scenarios['realigned-50'];
  const done = summarizeRun(realigned, [
    alert({ openedAtStep: 50, status: 'resolved', resolvedAtStep: 400 }),
    alert({ rule: 'cusum', openedAtStep: 100, status: 'resolved', resolvedAtStep: 450 }),
  ]);
  assert.equal(done.resolved, true);
  assert.equal(done.resolvedAtStep, 450);
  assert.equal(summarizeRun(realigned, [alert({ openedAtStep: 50 })]).resolved, false);

  const table = formatTable([o, benign, done]);
  assert.match(table, /^run +contamination +first warning +behavioural onset +lead \(checkpoints\)/);
  assert.match(table, /contaminated-50 +50% +step \d+ \(threshold\) +step \d+ +2/);
  assert.match(table, /benign-a +none +none +none \(max [\d.]+\) +—/);
  assert.match(table, /realigned-50 +50%, re-aligned at 300 .* yes, at step 450/);
});

test('progress: bars never wrap; events are plain lines off a terminal', () => {
  const row = formatRow({ name: 'run', total: 12, done: 6, note: 'x'.repeat(200) }, 3, 80);
  assert.equal(row.length, 79);
  assert.match(row, /^run {2}█{10}░{10} {3}6\/12/);
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const board = new ProgressBoard(stream, [{ name: 'a', total: 2 }], false);
  board.update('a', 1, 'half');
  board.event('⚠ a: warning');
  board.finish();
  assert.equal(text, '⚠ a: warning\n');
});
