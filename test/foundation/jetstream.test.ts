import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/nats-core';
import { connectNats, natsNames } from '../../libs/messaging/src/index.js';
import { testConfig } from '../support/config.js';

const config = testConfig();
const names = natsNames(config.natsPrefix);
let nc: NatsConnection;

before(async () => {
  nc = await connectNats(config.natsUrl, 'jetstream-test');
});
after(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(names.jobsStream).catch(() => undefined);
  await nc.close();
});

test('a message round-trips through a JetStream work queue and is removed once acknowledged', async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: names.jobsStream,
    subjects: [names.jobsSubject],
    retention: RetentionPolicy.Workqueue,
  });
  await jsm.consumers.add(names.jobsStream, {
    durable_name: names.workersConsumer,
    ack_policy: AckPolicy.Explicit,
  });
  const js = jetstream(nc);

  const first = await js.publish(names.jobsSubject, JSON.stringify({ evaluationId: 'e1' }), { msgID: 'e1' });
  const again = await js.publish(names.jobsSubject, JSON.stringify({ evaluationId: 'e1' }), { msgID: 'e1' });
  assert.equal(again.duplicate, true, 'the same Nats-Msg-Id is deduplicated');
  assert.equal(again.seq, first.seq);

  const consumer = await js.consumers.get(names.jobsStream, names.workersConsumer);
  const msg = await consumer.next({ expires: 5_000 });
  assert.ok(msg, 'a message arrived');
  assert.deepEqual(msg.json(), { evaluationId: 'e1' });
  assert.ok(await msg.ackAck(), 'the server confirmed the acknowledgement');

  const info = await jsm.streams.info(names.jobsStream);
  assert.equal(info.state.messages, 0, 'the work queue is empty after the ack');
});
