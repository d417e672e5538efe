// Retention of uploaded activations (ACTIVATIONS_RETENTION_HOURS=0 here): once an evaluation is finished
// the API deletes its upload from the object store and records it in Postgres; results, result-vector
// objects and the activations of unfinished evaluations stay. Checked with a raw object-store client.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { type NatsConnection } from '@nats-io/nats-core';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import { ActivationsRetentionService } from '../../apps/api/src/evaluations/activations-retention.service.js';
import { MAX_INLINE_VECTOR_LATENTS } from '../../apps/worker/src/evaluations/results.js';
import { natsNames } from '../../libs/messaging/src/index.js';
import { testConfig } from '../support/config.js';
import {
  activationsFile,
  type Api,
  createRun,
  registerSae,
  startApi,
  startWorker,
  waitFor,
} from './support.js';

const config = testConfig({ ENGINE_BACKEND: 'cpu', ACTIVATIONS_RETENTION_HOURS: '0' });
let api: Api;
let worker: INestApplication;
let nc: NatsConnection;
let bucket: ObjectStore;
let db: DataSource;
let retention: ActivationsRetentionService;

before(async () => {
  api = await startApi(config);
  worker = await startWorker(config);
  db = api.app.get(DataSource);
  retention = api.app.get(ActivationsRetentionService);
  nc = await connect({
    servers: config.natsUrl,
    ...(config.natsUser ? { user: config.natsUser, pass: config.natsPassword } : {}),
  });
  bucket = await new Objm(nc).open(natsNames(config.natsPrefix).activationsBucket);
});

after(async () => {
  await nc.close();
  await worker.close();
  await api.app.close();
});

interface View {
  id: string;
  status: string;
  error?: string;
  activationsDeletedAt: string | null;
  finishedAt: string | null;
  latents: unknown[];
  directions: unknown[];
  top: unknown[];
}

const view = async (id: string) => (await api.json<View>('GET', `/v1/evaluations/${id}`)).body;

/** Whether the object is in the bucket (a deleted object reads as null). */
const present = async (name: string) => (await bucket.get(name)) !== null;

async function row(id: string): Promise<{ object_key: string; activations_deleted_at: Date | null }> {
  const [r]: { object_key: string; activations_deleted_at: Date | null }[] = await db.query(
    'SELECT object_key, activations_deleted_at FROM evaluation WHERE id = $1',
    [id],
  );
  return r;
}

const deletedAtOf = (id: string) =>
  waitFor(
    `activations of ${id} to be deleted`,
    async () => (await view(id)).activationsDeletedAt ?? undefined,
  );

test('a finished evaluation loses its upload, keeps its results and its result-vector object', async () => {
  const dSae = MAX_INLINE_VECTOR_LATENTS + 64;
  const sae = await registerSae(api, 4, dSae, 13, 'standard');
  const runId = await createRun(api, sae, { latents: [0, dSae - 1], directions: 0 });
  const bytes = activationsFile(16, 4, 17, { nPrompts: 2 });
  const submitted = await api.upload(runId, 1, bytes);
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const id = submitted.body.evaluationId!;
  const { object_key: uploadKey } = await row(id);
  assert.match(uploadKey, new RegExp(`^runs/${runId}/steps/1/`));

  const done = await waitFor(`evaluation ${id}`, async () => {
    const v = await view(id);
    return v.status === 'done' || v.status === 'failed' ? v : undefined;
  });
  assert.equal(done.status, 'done', done.error);
  const deletedAt = await deletedAtOf(id);
  assert.ok(Date.parse(deletedAt) >= Date.parse(done.finishedAt!));
  assert.equal(await present(uploadKey), false, 'the upload is gone from the bucket');
  assert.ok((await row(id)).activations_deleted_at, 'and recorded as deleted in Postgres');

  // The results are still served, unchanged, by the evaluation and the run's list.
  const after = await view(id);
  assert.deepEqual(
    { ...after, activationsDeletedAt: null },
    { ...done, activationsDeletedAt: null },
    'same results after the deletion',
  );
  assert.ok(after.latents.length === 2 && after.top.length === 20);
  const listed = await api.json<{ id: string; activationsDeletedAt: string | null }[]>(
    'GET',
    `/v1/runs/${runId}/evaluations`,
  );
  assert.deepEqual(
    listed.body.map((e) => [e.id, e.activationsDeletedAt]),
    [[id, deletedAt]],
  );

  // The wide SAE's full vectors live in the same bucket and are never deleted.
  const vectorsKey = `evaluations/${id}/vectors.f32le`;
  const vectors = await bucket.info(vectorsKey);
  assert.ok(vectors && !vectors.deleted, 'the result-vector object is kept');
  assert.equal(vectors.size, dSae * 8);

  // The same bytes again: the same finished evaluation, and the new upload's object is not kept.
  const again = await api.upload(runId, 1, bytes);
  assert.deepEqual([again.status, again.body], [202, { evaluationId: id, status: 'done' }]);
  const live: string[] = [];
  for (const info of await bucket.list()) if (info.name.startsWith(`runs/${runId}/`)) live.push(info.name);
  assert.deepEqual(live, [], 'no upload of this run is left in the bucket');
  assert.equal((await view(id)).activationsDeletedAt, deletedAt);

  // A crash between the delete and the commit leaves the row unmarked: the next pass deletes nothing
  // (the object is already gone) and marks it again.
  await db.query('UPDATE evaluation SET activations_deleted_at = NULL WHERE id = $1', [id]);
  await deletedAtOf(id);
  assert.deepEqual(await retention.pass(), { deleted: [], bytes: 0 }, 'a further pass deletes nothing');
  assert.ok(await present(vectorsKey));
});

test('queued and running evaluations keep their uploads; a failed one loses it and can be retried', async () => {
  const sae = await registerSae(api, 8, 32, 5);
  const runId = await createRun(api, sae, { latents: [1, 2], directions: 1 });
  const bytes = activationsFile(12, 8, 23, { nPrompts: 2 });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // Rows as ingest writes them, each with its object in the bucket; finished_at long past, so only the
  // status keeps the unfinished ones. published_at and heartbeat_at now: the sweeper leaves them alone
  // for this test's length, so no worker ever claims them.
  const ids: Record<'queued' | 'running' | 'failed', string> = { queued: '', running: '', failed: '' };
  const keys: Record<string, string> = {};
  for (const [step, status] of (['queued', 'running', 'failed'] as const).entries()) {
    const key = `runs/${runId}/steps/${step}/${randomUUID()}`;
    await bucket.putBlob({ name: key }, bytes);
    const [{ id }]: { id: string }[] = await db.query(
      `INSERT INTO evaluation (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens,
                               n_prompts, nats_prefix, published_at, heartbeat_at, finished_at, error)
       VALUES ($1, $2, $3, $4, $5, $6, 12, 2, $7, now(), now(), now() - interval '1000 hours',
               CASE WHEN $3 = 'failed' THEN 'a failure for this test' END)
       RETURNING id`,
      [runId, step, status, sha256, key, bytes.length, config.natsPrefix],
    );
    ids[status] = id;
    keys[status] = key;
  }
  try {
    await deletedAtOf(ids.failed);
    assert.equal(await present(keys.failed), false, 'the failed evaluation’s upload is deleted');
    // Passes of its own, and the API's own ticks (every second at retention 0) meanwhile.
    assert.deepEqual(await retention.pass(), { deleted: [], bytes: 0 });
    await new Promise((r) => setTimeout(r, 2_500));
    assert.deepEqual(await retention.pass(), { deleted: [], bytes: 0 });
    for (const status of ['queued', 'running'] as const) {
      assert.equal(await present(keys[status]), true, `the ${status} evaluation keeps its upload`);
      assert.equal((await row(ids[status])).activations_deleted_at, null);
      assert.equal((await view(ids[status])).activationsDeletedAt, null);
    }

    // The failed checkpoint uploaded again: evaluated from the new object, which retention deletes in turn.
    const retry = await api.upload(runId, 2, bytes);
    assert.deepEqual([retry.status, retry.body], [202, { evaluationId: ids.failed, status: 'queued' }]);
    const retried = await row(ids.failed);
    assert.notEqual(retried.object_key, keys.failed);
    const done = await waitFor(`retry of ${ids.failed}`, async () => {
      const v = await view(ids.failed);
      return v.status === 'done' || v.status === 'failed' ? v : undefined;
    });
    assert.equal(done.status, 'done', done.error);
    await deletedAtOf(ids.failed);
    assert.equal(await present(retried.object_key), false);
  } finally {
    await db.query('DELETE FROM evaluation WHERE id = ANY($1)', [[ids.queued, ids.running]]);
  }
});
