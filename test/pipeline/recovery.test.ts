import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { WorkQueueService, jobSubject } from '../../libs/messaging/src/index.js';
import { testConfig } from '../support/config.js';
import {
  activationsFile,
  type Api,
  createRun,
  exited,
  registerSae,
  spawnWorker,
  startApi,
  startWorker,
  waitFor,
  workerIdOf,
} from './support.js';

// Nothing is lost: a job lost after the insert is re-published by the sweeper; a worker killed in the
// middle of an evaluation has it redelivered and completed once; a worker told to stop finishes first.
const config = testConfig({
  ENGINE_BACKEND: 'cpu',
  ACK_WAIT_MS: '3000',
  REQUEUE_AFTER_MS: '500',
  STALE_RUNNING_MS: '60000',
});
let api: Api;
let db: DataSource;
let queue: WorkQueueService;
let sae: { id: string; dIn: number; dSae: number };
let runId: string;
const workers: INestApplication[] = [];

// Big enough that the CPU backend takes a while (≈0.5 GFLOP): long enough to kill a worker mid-evaluation.
const SLOW = { tokens: 4096, dIn: 64, dSae: 1024 };

before(async () => {
  api = await startApi(config);
  db = api.app.get(DataSource);
  queue = api.app.get(WorkQueueService);
  sae = await registerSae(api, SLOW.dIn, SLOW.dSae, 21);
  runId = await createRun(api, sae, { latents: [2, 200, 1023], directions: 1 });
});

after(async () => {
  for (const w of workers) await w.close();
  await api.app.close();
});

interface Row {
  status: string;
  attempts: number;
  worker_id: string | null;
  error: string | null;
}

async function row(id: string): Promise<Row> {
  const [r]: Row[] = await db.query(
    'SELECT status, attempts, worker_id, error FROM evaluation WHERE id = $1',
    [id],
  );
  return r;
}

async function resultCounts(id: string): Promise<number[]> {
  const counts = [];
  for (const table of [
    'evaluation_latent',
    'evaluation_direction',
    'evaluation_top_latent',
    'evaluation_vectors',
  ]) {
    const [{ n }]: { n: string }[] = await db.query(
      `SELECT count(*) AS n FROM ${table} WHERE evaluation_id = $1`,
      [id],
    );
    counts.push(Number(n));
  }
  return counts;
}

test('a job lost after the insert is re-published by the sweeper', async () => {
  // No worker yet: the job waits in the stream. Then it is lost (purged), as Jepsen showed an
  // acknowledged publish can be.
  const res = await api.upload(runId, 1, activationsFile(64, SLOW.dIn, 1));
  assert.equal(res.status, 202);
  const id = res.body.evaluationId!;
  assert.equal(await queue.hasPendingJob(id), true);
  const jsm = await queue.clients.jsm();
  await jsm.streams.purge(queue.names.jobsStream, { filter: jobSubject(queue.names, id) });
  assert.equal(await queue.hasPendingJob(id), false, 'the job is gone from the stream');

  await waitFor('the sweeper to publish the job again', async () =>
    (await queue.hasPendingJob(id)) ? true : undefined,
  );
  workers.push(await startWorker(config));
  await waitFor('the evaluation to be done', async () =>
    (await row(id)).status === 'done' ? true : undefined,
  );
  assert.equal((await row(id)).attempts, 1);
  assert.deepEqual(await resultCounts(id), [3, 1, 20, 1]);
  await waitFor('the job to leave the stream', async () =>
    (await queue.hasPendingJob(id)) ? undefined : true,
  );
});

test('input that can never succeed fails with its reason; the same bytes uploaded again retry it', async () => {
  for (const w of workers.splice(0)) await w.close();
  const bytes = activationsFile(32, SLOW.dIn, 9);
  const res = await api.upload(runId, 9, bytes);
  const id = res.body.evaluationId!;
  const [{ object_key }]: { object_key: string }[] = await db.query(
    'SELECT object_key FROM evaluation WHERE id = $1',
    [id],
  );
  await queue.activations.delete(object_key);
  workers.push(await startWorker(config));
  await waitFor('the evaluation to fail', async () =>
    (await row(id)).status === 'failed' ? true : undefined,
  );
  const failed = await api.json<{ status: string; error: string }>('GET', `/v1/evaluations/${id}`);
  assert.match(failed.body.error, /activations object .* is missing from the object store/);
  assert.equal((await row(id)).attempts, 1, 'terminated at once, not retried');
  // The failure is recorded before the message is terminated: wait for the term to reach the server.
  await waitFor('the job to be terminated', async () => ((await queue.hasPendingJob(id)) ? undefined : true));

  const again = await api.upload(runId, 9, bytes);
  assert.deepEqual(again.body, { evaluationId: id, status: 'queued' });
  await waitFor('the retried evaluation to be done', async () =>
    (await row(id)).status === 'done' ? true : undefined,
  );
  const done = await row(id);
  assert.equal(done.error, null);
  assert.equal(done.attempts, 2);
  assert.deepEqual(await resultCounts(id), [3, 1, 20, 1]);
});

test('a worker SIGKILLed mid-evaluation: the job is redelivered and completes once', async () => {
  for (const w of workers.splice(0)) await w.close();
  const child = spawnWorker(config);
  try {
    const res = await api.upload(runId, 2, activationsFile(SLOW.tokens, SLOW.dIn, 2));
    assert.equal(res.status, 202);
    const id = res.body.evaluationId!;
    await waitFor(
      'the child worker to start the evaluation',
      async () => ((await row(id)).worker_id === workerIdOf(child.pid!) ? true : undefined),
      90_000,
      10,
    );
    child.kill('SIGKILL');
    assert.equal((await exited(child)).signal, 'SIGKILL');
    assert.equal((await row(id)).status, 'running', 'killed before it could commit');

    workers.push(await startWorker(config));
    await waitFor('the redelivered evaluation to be done', async () =>
      (await row(id)).status === 'done' ? true : undefined,
    );
    const done = await row(id);
    assert.equal(done.attempts, 2, 'delivered twice, completed by the second');
    assert.notEqual(done.worker_id, workerIdOf(child.pid!));
    assert.deepEqual(await resultCounts(id), [3, 1, 20, 1], 'one set of results, no duplicates');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('SIGTERM drains: the evaluation in hand finishes, then the worker exits', async () => {
  for (const w of workers.splice(0)) await w.close();
  const child = spawnWorker(config);
  try {
    const res = await api.upload(runId, 3, activationsFile(SLOW.tokens, SLOW.dIn, 3));
    const id = res.body.evaluationId!;
    await waitFor(
      'the child worker to start the evaluation',
      async () => ((await row(id)).worker_id === workerIdOf(child.pid!) ? true : undefined),
      90_000,
      10,
    );
    child.kill('SIGTERM');
    const { code } = await exited(child);
    assert.equal(code, 0);
    const done = await row(id);
    assert.equal(done.status, 'done', 'finished before exiting');
    assert.equal(done.attempts, 1);
    assert.equal(done.worker_id, workerIdOf(child.pid!));
    assert.equal(await queue.hasPendingJob(id), false, 'acknowledged');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
