import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { DataSource } from 'typeorm';
import { runMigrations } from '../../libs/persistence/src/index.js';
import { createEngine, loadSae, parseActivations } from '../../libs/sae/src/index.js';
import { topByMean } from '../../apps/worker/src/evaluations/results.js';
import { testConfig } from '../support/config.js';
import {
  freePort,
  httpOk,
  OwnPostgres,
  spawnNode,
  stopChild,
  until,
  WORKER_MAIN,
} from '../support/processes.js';
import { seedSaeAndRuns, type Seeded } from '../support/seed-runs.js';
import { activationsFile, type Api, lcg, startApi, waitFor } from './support.js';

// The record-of-truth Postgres goes away, with evaluations in flight and queued, for longer than
// MAX_DELIVER's backoff used to allow (MAX_DELIVER 2: nak 1 s, then 2 s, and the third delivery failed
// the evaluation, about 3 s into an outage). Every evaluation must still end `done` exactly once, with
// the engine's statistics; none `failed`. The workers are processes of their own, as deployed; Postgres is
// a cluster of this file's own (temp dir, free port), so stopping it disturbs no other test. Both tests
// fail on the code before the fix (every evaluation `failed`: "gave up after 2 deliveries …").
const D_IN = 64;
const D_SAE = 1024;
const TOKENS = 2048;
const WATCH = [0, 3, 77, 511, 1023];

let work: string;
let postgres: OwnPostgres;
let api: Api | undefined;
let db: DataSource;
let workers: ChildProcess[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sentinel-outage-'));
  await chmod(work, 0o755);
  postgres = new OwnPostgres(join(work, 'pg'), join(work, 'postgres.log'));
  await postgres.init();
  await postgres.start();
});

after(async () => {
  await stopAll();
  await postgres.stop('fast');
  await rm(work, { recursive: true, force: true });
});

async function stopAll(): Promise<void> {
  await Promise.all(workers.map((w) => stopChild(w, 'SIGTERM', 10_000)));
  workers = [];
  await api?.app.close();
  api = undefined;
}

test('a Postgres outage longer than the retries allow: every evaluation done once, none failed', async () => {
  const outage = await outageScenario({ name: 'outage', maxDeliver: 2, evaluations: 12, outageMs: 20_000 });
  assert.ok(outage.transient + outage.handedBack >= 1, 'at least one delivery met the outage');
});

test('an outage on the last allowed delivery hands the job back; the sweeper publishes it again', async () => {
  // MAX_DELIVER 1: every delivery that meets the outage is the last one. The evaluation in flight is
  // left `running` (its worker cannot reach Postgres to set it back), so it returns through the
  // sweeper's STALE_RUNNING_MS requeue; those that failed on the claim are still `queued` and are
  // published again as soon as Postgres answers.
  const outage = await outageScenario({ name: 'handback', maxDeliver: 1, evaluations: 4, outageMs: 6_000 });
  assert.ok(outage.handedBack >= 1, 'a job was handed back');
  assert.equal(outage.transient, 0, 'no nak: every delivery was the last');
});

async function outageScenario(o: {
  name: string;
  maxDeliver: number;
  evaluations: number;
  outageMs: number;
}): Promise<{ transient: number; handedBack: number }> {
  const EVALUATIONS = o.evaluations;
  const databaseUrl = postgres.url(`sentinel_${o.name}`);
  await runMigrations(databaseUrl);
  const config = testConfig({
    DATABASE_URL: databaseUrl,
    ENGINE_BACKEND: 'cpu',
    MAX_DELIVER: String(o.maxDeliver),
    ACK_WAIT_MS: '3000',
    STALE_RUNNING_MS: '5000',
    REQUEUE_AFTER_MS: '1000',
  });
  api = await startApi(config);
  db = api.app.get(DataSource);
  const workerPorts = [await freePort(), await freePort()];
  for (const [i, port] of workerPorts.entries()) {
    workers.push(
      spawnNode(
        WORKER_MAIN,
        {
          DATABASE_URL: config.databaseUrl,
          NATS_URL: config.natsUrl,
          NATS_PREFIX: config.natsPrefix,
          WORKER_HTTP_PORT: String(port),
          ENGINE_BACKEND: 'cpu',
          ACK_WAIT_MS: String(config.ackWaitMs),
          STALE_RUNNING_MS: String(config.staleRunningMs),
          MAX_DELIVER: String(config.maxDeliver),
          WORKER_CONCURRENCY: '1',
          LOG_LEVEL: 'warn',
        },
        join(work, `${o.name}-worker-${i}.log`),
      ),
    );
  }
  for (const port of workerPorts) {
    await until(`worker on ${port} ready`, () => httpOk(`http://127.0.0.1:${port}/readyz`), 90_000);
  }

  const rand = lcg(7);
  const seeded: Seeded = await seedSaeAndRuns({
    api: api.url,
    dir: work,
    dIn: D_IN,
    dSae: D_SAE,
    weightsSeed: 11,
    name: o.name,
    latents: WATCH,
    directions: [{ name: 'persona', vector: Array.from({ length: D_IN }, rand) }],
    runs: 3,
  });
  const items = Array.from({ length: EVALUATIONS }, (_, i) => ({
    runId: seeded.runs[i % 3],
    step: Math.floor(i / 3),
    bytes: activationsFile(TOKENS, D_IN, 100 + i, { nPrompts: 8 }),
    id: '',
  }));
  for (const it of items) {
    const res = await api.upload(it.runId, it.step, it.bytes);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    it.id = res.body.evaluationId!;
  }

  // Stop Postgres (a crash: immediate shutdown) while evaluations are running and others are queued.
  await waitFor(
    'an evaluation to be running',
    async () => ((await statusCounts()).running ?? 0) >= 1 || undefined,
    90_000,
    20,
  );
  const before = await statusCounts();
  await postgres.stop('immediate');
  await sleep(o.outageMs);
  await postgres.start();

  await waitFor(
    'every evaluation to settle',
    async () => {
      const by = await statusCounts().catch(() => undefined);
      return by && (by.queued ?? 0) + (by.running ?? 0) === 0 ? by : undefined;
    },
    180_000,
    250,
  );

  const rows: { id: string; run_id: string; step: number; status: string; error: string | null }[] =
    await db.query('SELECT id, run_id, step, status, error FROM evaluation');
  assert.equal(rows.length, EVALUATIONS, 'one evaluation per (run, step)');
  assert.deepEqual(
    rows.filter((r) => r.status !== 'done').map((r) => `${r.status}: ${r.error}`),
    [],
    'none failed',
  );
  for (const it of items) {
    assert.equal(rows.find((r) => r.run_id === it.runId && r.step === it.step)?.id, it.id);
  }
  const [dups]: { n: number }[] = await db.query(
    `SELECT count(*)::int AS n FROM (
       SELECT evaluation_id FROM evaluation_vectors GROUP BY evaluation_id HAVING count(*) > 1
       UNION ALL SELECT evaluation_id FROM evaluation_latent GROUP BY evaluation_id, latent_index HAVING count(*) > 1
       UNION ALL SELECT evaluation_id FROM evaluation_top_latent GROUP BY evaluation_id, rank HAVING count(*) > 1
       UNION ALL SELECT evaluation_id FROM evaluation_direction GROUP BY evaluation_id, name HAVING count(*) > 1
     ) x`,
  );
  assert.equal(dups.n, 0, 'one set of results per evaluation');

  // The statistics are the engine's, computed here directly from the same bytes.
  const engine = await createEngine({ backend: 'cpu' });
  try {
    const sae = await loadSae(seeded.saeDir);
    const directions = seeded.directions.map((d) => ({ name: d.name, vector: Float32Array.from(d.vector) }));
    const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const it of items) {
      const direct = await engine.encode(sae, parseActivations(it.bytes, 'direct'), { directions });
      const [v]: { mean: Buffer; frac_active: Buffer }[] = await db.query(
        'SELECT mean, frac_active FROM evaluation_vectors WHERE evaluation_id = $1',
        [it.id],
      );
      assert.ok(v.mean.equals(f32(direct.mean)), `mean vector of ${it.id}`);
      assert.ok(v.frac_active.equals(f32(direct.fracActive)), `frac_active vector of ${it.id}`);
      const latents: { latent_index: number; mean: number; frac_active: number; max: number }[] =
        await db.query(
          'SELECT latent_index, mean, frac_active, max FROM evaluation_latent WHERE evaluation_id = $1 ORDER BY latent_index',
          [it.id],
        );
      assert.deepEqual(
        latents,
        WATCH.map((i) => ({
          latent_index: i,
          mean: direct.mean[i],
          frac_active: direct.fracActive[i],
          max: direct.max[i],
        })),
      );
      const [dir]: { mean: number }[] = await db.query(
        'SELECT mean FROM evaluation_direction WHERE evaluation_id = $1',
        [it.id],
      );
      assert.equal(dir.mean, direct.directions[0].mean);
      const top: { latent_index: number; mean: number }[] = await db.query(
        'SELECT latent_index, mean FROM evaluation_top_latent WHERE evaluation_id = $1 ORDER BY rank',
        [it.id],
      );
      assert.deepEqual(
        top.map((t) => [t.latent_index, t.mean]),
        topByMean(direct.mean, 20).map((t) => [t.index, t.mean]),
      );
    }
  } finally {
    await engine.dispose();
  }

  // The outage did reach the workers: evaluations failed on it and were retried or handed back.
  const logs = workerPorts
    .map((_, i) => readFileSync(join(work, `${o.name}-worker-${i}.log`), 'utf8'))
    .join('\n');
  const count = (re: RegExp) => logs.match(re)?.length ?? 0;
  const transient = count(/infrastructure error; will retry/g);
  const handedBack = count(/job handed back to the sweeper/g);
  console.log(
    `${o.name}, MAX_DELIVER ${o.maxDeliver}, ${o.outageMs / 1000} s down: before the outage ${JSON.stringify(before)}; transient retries ${transient}, handed back ${handedBack}, ` +
      `slots that waited for Postgres ${count(/not pulling until it answers/g)}`,
  );
  assert.equal(count(/MAX_DELIVER|gave up after/g), 0, 'no worker decided to fail an evaluation');
  await stopAll();
  return { transient, handedBack };
}

async function statusCounts(): Promise<Record<string, number>> {
  const rows: { status: string; n: number }[] = await db.query(
    'SELECT status, count(*)::int AS n FROM evaluation GROUP BY status',
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
