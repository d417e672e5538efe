// Least privilege in Postgres: the API and the worker connect as login users in their group roles
// (migrations/1764401000000-AppRoles.ts). Neither can change the schema or touch what it does not need,
// and the whole path — register, upload, encode, early warning, acknowledge — still works under them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import pg from 'pg';
import { testConfig } from '../support/config.js';
import {
  activationsFile,
  type Api,
  createRun,
  registerSae,
  startApi,
  startWorker,
  waitFor,
} from '../pipeline/support.js';

const admin = testConfig();
const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const users = { api: `sentinel_api_t${suffix}`, worker: `sentinel_worker_t${suffix}` };

function urlAs(user: string): string {
  const url = new URL(admin.databaseUrl);
  url.username = user;
  return url.toString();
}

async function asUser<T>(user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlAs(user) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const DENIED = /permission denied|must be owner/;
let superuser: pg.Client;

before(async () => {
  superuser = new pg.Client({ connectionString: admin.databaseUrl });
  await superuser.connect();
  await superuser.query(`CREATE ROLE ${users.api} LOGIN IN ROLE sentinel_api`);
  await superuser.query(`CREATE ROLE ${users.worker} LOGIN IN ROLE sentinel_worker`);
});

after(async () => {
  // Their sessions may linger a moment in the pools of the apps that just closed.
  await superuser.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN ($1, $2)`, [
    users.api,
    users.worker,
  ]);
  await superuser.query(`DROP ROLE IF EXISTS ${users.api}`);
  await superuser.query(`DROP ROLE IF EXISTS ${users.worker}`);
  await superuser.end();
});

test('neither role can change the schema', async () => {
  for (const user of Object.values(users)) {
    await asUser(user, async (c) => {
      await assert.rejects(c.query('DROP TABLE run'), DENIED, `${user} dropped a table`);
      await assert.rejects(c.query('ALTER TABLE evaluation ADD COLUMN x int'), DENIED, `${user} altered`);
      await assert.rejects(c.query('TRUNCATE evaluation'), DENIED, `${user} truncated`);
      await assert.rejects(c.query('CREATE TABLE intruder (x int)'), DENIED, `${user} created a table`);
    });
  }
});

test('each role reaches only the tables its code writes', async () => {
  await asUser(users.worker, async (c) => {
    await assert.rejects(c.query('SELECT * FROM api_key'), DENIED, 'the worker read API keys');
    await assert.rejects(c.query(`UPDATE run SET name = 'x'`), DENIED, 'the worker changed a run');
    await assert.rejects(c.query(`DELETE FROM sae`), DENIED, 'the worker deleted SAEs');
    await assert.rejects(c.query(`INSERT INTO webhook (project, url, secret) VALUES ('p','u','s')`), DENIED);
  });
  await asUser(users.api, async (c) => {
    await assert.rejects(c.query(`DELETE FROM evaluation_latent`), DENIED, 'the API deleted results');
    await assert.rejects(c.query(`UPDATE evaluation_target_stat SET delta = 0`), DENIED);
    await assert.rejects(c.query(`DELETE FROM api_key`), DENIED, 'the API deleted API keys');
    await c.query('SELECT count(*) FROM api_key'); // reads keys to authenticate requests
  });
});

test('the whole path works as the API and worker roles', async () => {
  let api: Api | undefined;
  let worker: INestApplication | undefined;
  try {
    // The CPU engine: this test is about database privileges, and needs no shader compile.
    // Retention 0: the API role also deletes finished evaluations' uploads and records it.
    const nats = testConfig({ ENGINE_BACKEND: 'cpu', ACTIVATIONS_RETENTION_HOURS: '0' });
    api = await startApi({ ...nats, databaseUrl: urlAs(users.api) });
    worker = await startWorker({ ...nats, databaseUrl: urlAs(users.worker) });
    const sae = await registerSae(api, 16, 64, 7);
    const runId = await createRun(api, sae, { latents: [1, 2], directions: 1 });
    for (const step of [0, 1, 2]) {
      const res = await api.upload(runId, step, activationsFile(24, 16, 100 + step, { nPrompts: 3 }));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const id = res.body.evaluationId!;
      const done = await waitFor(
        `evaluation ${step}`,
        async () => {
          const e = await api!.json<{ status: string; error?: string }>('GET', `/v1/evaluations/${id}`);
          return e.body.status === 'done' || e.body.status === 'failed' ? e.body : undefined;
        },
        90_000,
      );
      assert.equal(done.status, 'done', done.error);
    }
    // Early warning runs in the worker right after the results commit, so it may trail `done` a moment.
    const api_ = api;
    await waitFor(
      'early warning over all three checkpoints (as the worker role)',
      async () => {
        const trend = await api_.json<{ series: { points: unknown[] }[] }>('GET', `/v1/runs/${runId}/trend`);
        return trend.status === 200 &&
          trend.body.series.length > 0 &&
          trend.body.series.every((s) => s.points.length === 3)
          ? true
          : undefined;
      },
      90_000,
    );
    await waitFor('activations retention (as the API role)', async () => {
      const list = await api_.json<{ activationsDeletedAt: string | null }[]>(
        'GET',
        `/v1/runs/${runId}/evaluations`,
      );
      return list.body.length === 3 && list.body.every((e) => e.activationsDeletedAt) ? true : undefined;
    });
    const hook = await api.json('POST', '/v1/webhooks', {
      project: 'pipeline-tests',
      url: 'http://127.0.0.1:9/h',
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
  } finally {
    await worker?.close();
    await api?.app.close();
  }
});
