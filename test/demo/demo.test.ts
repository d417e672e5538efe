// `npm run demo -- --exit`, end to end at a small size, against the test run's Postgres and NATS: the real
// API and two worker processes, the REST API, the engine and the detectors. Asserts the table's facts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DEFAULT_DEMO_OPTIONS } from '../../apps/demo/src/args.js';
import { Cleanup, runDemo } from '../../apps/demo/src/demo.js';
import { testConfig } from '../support/config.js';

function sink(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stream.text += chunk.toString('utf8');
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

test(
  'the demo warns every contaminated run before its behaviour turns, never a benign one',
  { timeout: 420_000 },
  async () => {
    const out = sink();
    const err = sink();
    const cleanup = new Cleanup();
    let result;
    try {
      result = await runDemo(
        // 10 checkpoints leave the re-aligned run 4 after re-alignment; d_sae 1024 keeps the encode cheap.
        { ...DEFAULT_DEMO_OPTIONS, exit: true, dSae: 1024, checkpoints: 10 },
        testConfig(),
        { out, err },
        cleanup,
      );
    } catch (e) {
      assert.fail(`demo failed: ${(e as Error).message}\n--- progress:\n${err.text}`);
    } finally {
      await cleanup.run();
    }

    assert.deepEqual(result.started, [], 'the test run uses the Postgres and NATS that answer');
    assert.equal(result.evaluations, 60);
    const by = Object.fromEntries(result.outcomes.map((o) => [o.name, o]));
    const summary = `\n${result.table}\n--- progress:\n${err.text}`;
    for (const name of ['benign-a', 'benign-b']) {
      assert.equal(by[name].firstWarningStep, null, `${name} warned${summary}`);
    }
    for (const name of ['contaminated-05', 'contaminated-25', 'contaminated-50', 'realigned-50']) {
      const o = by[name];
      assert.notEqual(o.firstWarningStep, null, `${name} was never warned${summary}`);
      if (o.behaviouralOnsetStep !== null) {
        assert.ok(o.leadCheckpoints! > 0, `${name}: warning not before behaviour${summary}`);
      }
    }
    // 5%: the latents move, behaviour never turns; 25% and 50%: behaviour turns, later at 25%.
    assert.equal(by['contaminated-05'].behaviouralOnsetStep, null);
    assert.ok(by['contaminated-25'].behaviouralOnsetStep! > by['contaminated-50'].behaviouralOnsetStep!);
    assert.equal(by['realigned-50'].resolved, true, `re-aligned run's alerts still open${summary}`);
    assert.ok(by['realigned-50'].resolvedAtStep! > by['realigned-50'].realignStep!);

    for (const name of Object.keys(by)) assert.match(out.text, new RegExp(`^${name} `, 'm'));
    assert.match(out.text, /Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  },
);
