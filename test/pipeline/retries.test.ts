import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { WorkQueueService } from '../../libs/messaging/src/index.js';
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

// A failure that may pass but is not known to be an outage (here: an SAE file of the wrong size in the
// object store, as a partial write would leave it) is retried with backoff, and after MAX_DELIVER
// deliveries the evaluation is failed with the last error and the job terminated. (Outages are never
// counted: postgres-outage.test.ts.)
const config = testConfig({ ENGINE_BACKEND: 'cpu', MAX_DELIVER: '3' });
let api: Api;
let worker: INestApplication;

before(async () => {
  api = await startApi(config);
  worker = await startWorker(config);
});

after(async () => {
  await worker.close();
  await api.app.close();
});

test('failures other than outages are retried with backoff, then failed after MAX_DELIVER', async () => {
  const sae = await registerSae(api, 16, 64, 51);
  const runId = await createRun(api, sae);
  const queue = api.app.get(WorkQueueService);
  await queue.saes.putBlob({ name: `saes/${sae.id}/sae_weights.safetensors` }, new Uint8Array(10));

  const started = Date.now();
  const res = await api.upload(runId, 1, activationsFile(32, 16, 1));
  const id = res.body.evaluationId!;
  const db = api.app.get(DataSource);
  const row = await waitFor('the evaluation to fail', async () => {
    const [r]: { status: string; attempts: number; error: string }[] = await db.query(
      'SELECT status, attempts, error FROM evaluation WHERE id = $1',
      [id],
    );
    return r.status === 'failed' ? r : undefined;
  });
  assert.equal(row.attempts, 3);
  assert.match(row.error, /^failed 3 times \(MAX_DELIVER 3\); last error: SAE file .* wrong size/);
  // Backoff: 1 s after the first failure, 2 s after the second.
  assert.ok(Date.now() - started >= 3_000, `retried with backoff (${Date.now() - started} ms)`);
  await waitFor('the job to be terminated', async () => ((await queue.hasPendingJob(id)) ? undefined : true));
});
