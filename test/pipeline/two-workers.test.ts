import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DataSource } from 'typeorm';
import { WorkQueueService } from '../../libs/messaging/src/index.js';
import { testConfig } from '../support/config.js';
import {
  activationsFile,
  type Api,
  createRun,
  exited,
  registerSae,
  spawnWorker,
  startApi,
  waitFor,
  workerIdOf,
} from './support.js';

// Any number of worker processes share the one durable consumer: 50 evaluations, two processes, each
// evaluation done exactly once.
const config = testConfig({ ENGINE_BACKEND: 'cpu', WORKER_CONCURRENCY: '2' });
let api: Api;

before(async () => {
  api = await startApi(config);
});

after(async () => {
  await api.app.close();
});

test('two worker processes, 50 evaluations: each done exactly once', async () => {
  const sae = await registerSae(api, 16, 64, 31);
  const runId = await createRun(api, sae, { latents: [3, 30], directions: 1 });
  const children = [spawnWorker(config), spawnWorker(config)];
  try {
    // Both processes up (each of their 2 slots has a pull waiting) before any work exists, so that the
    // split between them is the queue's doing, not a head start.
    const queue = api.app.get(WorkQueueService);
    const jsm = await queue.clients.jsm();
    await waitFor(
      'both workers to be pulling',
      async () => {
        const info = await jsm.consumers.info(queue.names.jobsStream, queue.names.workersConsumer);
        return info.num_waiting >= 4 ? true : undefined;
      },
      90_000,
      200,
    );
    const ids: string[] = [];
    for (let step = 0; step < 50; step++) {
      const res = await api.upload(runId, step, activationsFile(256, 16, 1000 + step));
      assert.equal(res.status, 202);
      ids.push(res.body.evaluationId!);
    }
    const db = api.app.get(DataSource);
    const rows = await waitFor(
      'all 50 evaluations to finish',
      async () => {
        const r: { id: string; status: string; attempts: number; worker_id: string }[] = await db.query(
          `SELECT id, status, attempts, worker_id FROM evaluation WHERE run_id = $1`,
          [runId],
        );
        return r.every((e) => e.status === 'done' || e.status === 'failed') ? r : undefined;
      },
      90_000,
      200,
    );
    assert.equal(rows.length, 50);
    assert.deepEqual(
      rows.filter((r) => r.status !== 'done' || r.attempts !== 1),
      [],
      'every evaluation done, on its first delivery',
    );
    const byWorker = new Map<string, number>();
    for (const r of rows) byWorker.set(r.worker_id, (byWorker.get(r.worker_id) ?? 0) + 1);
    assert.deepEqual(
      [...byWorker.keys()].sort(),
      children.map((c) => workerIdOf(c.pid!)).sort(),
      `both processes took work: ${JSON.stringify([...byWorker])}`,
    );
    const [{ latents, tops }]: { latents: string; tops: string }[] = await db.query(
      `SELECT (SELECT count(*) FROM evaluation_latent l JOIN evaluation e ON e.id = l.evaluation_id WHERE e.run_id = $1) AS latents,
              (SELECT count(*) FROM evaluation_top_latent t JOIN evaluation e ON e.id = t.evaluation_id WHERE e.run_id = $1) AS tops`,
      [runId],
    );
    assert.equal(Number(latents), 100, 'two watched latents per evaluation, no duplicates');
    assert.equal(Number(tops), 50 * 20);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map(exited));
  }
});
