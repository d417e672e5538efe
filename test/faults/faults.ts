// `npm run test:faults`: evaluations through the real API and several worker processes while a random
// worker is SIGKILLed and restarted every few seconds, nats-server is killed and restarted once (same
// store directory) and Postgres is crashed once and stays down for --pg-down-s (25 s: longer than the
// ~15 s of nak backoff that MAX_DELIVER 5 used to allow before an outage failed evaluations), with the
// workers frozen just before until jobs are waiting, so that the outage finds work queued and in hand.
// Afterwards every evaluation must be `done` exactly once, with statistics equal to what the CPU engine
// computes from the same files directly.
//
// Everything runs on a Postgres cluster and a nats-server of its own (temp dir, free ports), so the
// restarts disturb nobody. Flags (after `--`): --evaluations 200 --workers 3 --submit-seconds 60
// --kill-every-ms 4000 --pg-down-s 25 --timeout-s 600 --seed N --keep (keep the temp dir and its logs).
// The last lines are the counts; the exit code is 1 when any evaluation is lost, duplicated, stuck,
// failed or differs from the engine's output.
import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runMigrations } from '../../libs/persistence/src/index.js';
import { createEngine, type EncodeStats, loadSae, parseActivations } from '../../libs/sae/src/index.js';
import { topByMean } from '../../apps/worker/src/evaluations/results.js';
import { activationsFile, lcg } from '../pipeline/support.js';
import {
  API_MAIN,
  freePort,
  httpOk,
  OwnNats,
  OwnPostgres,
  spawnNode,
  stopChild,
  until,
  WORKER_MAIN,
} from '../support/processes.js';
import { seedSaeAndRuns } from '../support/seed-runs.js';

const { values: flags } = parseArgs({
  options: {
    evaluations: { type: 'string', default: '200' },
    workers: { type: 'string', default: '3' },
    'submit-seconds': { type: 'string', default: '60' },
    'kill-every-ms': { type: 'string', default: '4000' },
    'pg-down-s': { type: 'string', default: '25' },
    'timeout-s': { type: 'string', default: '600' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const EVALUATIONS = Number(flags.evaluations);
const WORKERS = Number(flags.workers);
const SUBMIT_MS = Number(flags['submit-seconds']) * 1000;
const KILL_EVERY_MS = Number(flags['kill-every-ms']);
const PG_DOWN_MS = Number(flags['pg-down-s']) * 1000;
const DEADLINE = Date.now() + Number(flags['timeout-s']) * 1000;
const SEED = flags.seed === undefined ? Date.now() % 2 ** 31 : Number(flags.seed);
const RUNS = 10;
const D_IN = 64;
const D_SAE = 1024;
const TOKENS = 256;
const WATCH = [0, 3, 77, 511, 1023];

const rand = lcg(SEED);
const uniform = () => (rand() + 1) / 2;
const started = Date.now();
const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

const counts = {
  kills: 0,
  workerRestarts: 0,
  workerCrashes: 0,
  /** Workers that exited on their own while Postgres was down: a worker cannot start without it. */
  workerStartsWithoutPg: 0,
  apiRestarts: 0,
  natsRestarts: 0,
  pgRestarts: 0,
};
const retries = { submit: 0 };

const work = await mkdtemp(join(tmpdir(), 'sentinel-faults-'));
await chmod(work, 0o755);
const postgres = new OwnPostgres(join(work, 'pg'), join(work, 'postgres.log'));
const nats = new OwnNats(join(work, 'nats'), join(work, 'nats.log'));
const children = new Set<ChildProcess>();
let stopping = false;
/** Postgres is down (from the crash until it answers again, plus a restarted worker's start-up). */
let pgDown = false;
let failed = true;

try {
  log(`seed ${SEED}; work dir ${work}`);
  await postgres.init();
  await postgres.start();
  await nats.start();
  const databaseUrl = postgres.url('sentinel_faults');
  await runMigrations(databaseUrl);
  const httpPort = await freePort();
  const env = {
    DATABASE_URL: databaseUrl,
    NATS_URL: nats.url,
    NATS_PREFIX: 'faults',
    HTTP_PORT: String(httpPort),
    GRPC_PORT: String(await freePort()),
    WORKER_HTTP_PORT: '0',
    ENGINE_BACKEND: 'cpu',
    LOG_LEVEL: 'warn',
    // API keys are another pass's subject; the fault run tests the pipeline.
    AUTH_REQUIRED: 'false',
    REQUEUE_AFTER_MS: '3000',
    STALE_RUNNING_MS: '5000',
    ACK_WAIT_MS: '3000',
  };
  const api = `http://127.0.0.1:${httpPort}`;

  // The API: restarted if it ever exits (counted: it should not).
  let apiChild: ChildProcess;
  const startApi = () => {
    apiChild = spawnNode(API_MAIN, env, join(work, 'api.log'));
    children.add(apiChild);
    apiChild.once('exit', (code, signal) => {
      children.delete(apiChild);
      if (stopping) return;
      counts.apiRestarts++;
      log(`API exited (${code ?? signal}); restarting`);
      setTimeout(startApi, 500);
    });
  };
  startApi();
  await until('the API to answer /healthz', () => httpOk(`${api}/healthz`), 60_000);

  // Workers: a slot each; a killed or crashed worker is started again.
  const workers: (ChildProcess | undefined)[] = Array.from({ length: WORKERS });
  const startWorker = (slot: number) => {
    const child = spawnNode(WORKER_MAIN, env, join(work, `worker-${slot}.log`));
    workers[slot] = child;
    children.add(child);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      if (signal !== 'SIGKILL') {
        if (pgDown) counts.workerStartsWithoutPg++;
        else {
          counts.workerCrashes++;
          log(`worker ${slot} (pid ${child.pid}) exited on its own (${code ?? signal})`);
        }
      }
      setTimeout(
        () => {
          if (stopping) return;
          counts.workerRestarts++;
          startWorker(slot);
        },
        pgDown ? 1_000 : 300,
      );
    });
  };
  for (let i = 0; i < WORKERS; i++) startWorker(i);
  const liveWorkers = () =>
    workers.filter((w): w is ChildProcess => !!w && w.exitCode === null && w.signalCode === null);

  // An SAE, a watchlist and RUNS runs, through the API.
  const dirRand = lcg(SEED + 1);
  const seeded = await seedSaeAndRuns({
    api,
    dir: work,
    dIn: D_IN,
    dSae: D_SAE,
    weightsSeed: 5,
    name: 'faults',
    latents: WATCH,
    directions: Array.from({ length: 2 }, (_, i) => ({
      name: `direction-${i}`,
      vector: Array.from({ length: D_IN }, dirRand),
    })),
    runs: RUNS,
  });
  const { runs, saeDir } = seeded;
  const items = Array.from({ length: EVALUATIONS }, (_, i) => ({
    runId: runs[i % RUNS],
    step: Math.floor(i / RUNS) * 100,
    bytes: activationsFile(TOKENS, D_IN, SEED * 1000 + i, { nPrompts: 8 }),
    evaluationId: undefined as string | undefined,
  }));

  // Faults: a random worker SIGKILLed every KILL_EVERY_MS (± half), NATS at 35% and Postgres at 65% of
  // the submission window. They go on while evaluations are outstanding, for at most the window + 60 s.
  let allDone = false;
  const chaosEnd = Date.now() + SUBMIT_MS + 60_000;
  const chaos = (async () => {
    const natsAt = Date.now() + SUBMIT_MS * 0.35;
    const pgAt = Date.now() + SUBMIT_MS * 0.65;
    let natsDone = false;
    let pgDone = false;
    while (!allDone && Date.now() < chaosEnd) {
      await sleep(KILL_EVERY_MS * (0.5 + uniform()));
      if (allDone) break;
      const live = liveWorkers();
      // No kill just before the Postgres crash: its replacement would start during the freeze below.
      const pgDue = !pgDone && Date.now() >= pgAt;
      if (live.length && !pgDue) {
        const victim = live[Math.floor(uniform() * live.length)];
        victim.kill('SIGKILL');
        counts.kills++;
      }
      if (!natsDone && Date.now() >= natsAt) {
        natsDone = true;
        log('killing nats-server (SIGKILL)');
        await nats.kill();
        await sleep(2_000);
        await nats.start();
        counts.natsRestarts++;
        log('nats-server restarted on the same store');
      }
      if (!pgDone && Date.now() >= pgAt) {
        pgDone = true;
        // The workers keep up with the submissions, so first let jobs pile up: the outage must find
        // evaluations in hand and waiting in the stream. The workers are frozen (SIGSTOP) while uploads
        // go on, until 12 evaluations wait (at most 10 s), Postgres is crashed, and they are thawed into
        // the outage.
        const frozenUntil = Date.now() + 10_000;
        let backlog = { queued: -1, running: -1 };
        while (Date.now() < frozenUntil) {
          // Every poll: a worker restarted after an earlier kill may have come up since.
          for (const w of liveWorkers()) w.kill('SIGSTOP');
          await sleep(250);
          [backlog = backlog] = await pgClientQuery<{ queued: number; running: number }>(
            `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
                    count(*) FILTER (WHERE status = 'running')::int AS running FROM evaluation`,
          );
          if (backlog.queued >= 12) break;
        }
        log(
          `crashing Postgres (immediate shutdown) for ${PG_DOWN_MS / 1000} s, ` +
            `${backlog.queued} evaluations queued and ${backlog.running} running`,
        );
        pgDown = true;
        await postgres.stop('immediate');
        for (const w of liveWorkers()) w.kill('SIGCONT');
        await sleep(PG_DOWN_MS);
        await postgres.start();
        counts.pgRestarts++;
        log('Postgres restarted');
        // A worker that began starting while Postgres was down may still fail on it for a few seconds.
        setTimeout(() => (pgDown = false), 10_000).unref();
      }
    }
  })();

  // Submissions, paced over the window, 4 at a time, each retried until the API accepts it.
  let next = 0;
  const t0 = Date.now();
  const submitters = Array.from({ length: 4 }, async () => {
    while (next < items.length) {
      const i = next++;
      const due = t0 + (i * SUBMIT_MS) / items.length;
      if (due > Date.now()) await sleep(due - Date.now());
      items[i].evaluationId = await submit(items[i].runId, items[i].step, items[i].bytes);
    }
  });
  await Promise.all(submitters);
  log(`all ${items.length} submissions accepted (${retries.submit} retried attempts)`);

  // Wait until nothing is queued or running (or the deadline).
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  db.on('error', () => undefined);
  let lastLine = '';
  for (;;) {
    const rows = await db
      .query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM evaluation GROUP BY status',
      )
      .then((r) => r.rows)
      .catch(() => null);
    if (rows) {
      const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      const line = `status: ${JSON.stringify(by)}`;
      if (line !== lastLine) log(line);
      lastLine = line;
      if ((by.queued ?? 0) + (by.running ?? 0) === 0 && (by.done ?? 0) + (by.failed ?? 0) >= items.length)
        break;
    }
    if (Date.now() > DEADLINE) {
      log('deadline reached with evaluations outstanding');
      break;
    }
    await sleep(1_000);
  }
  allDone = true;
  await chaos;

  // Verification, in SQL and against the engine.
  const rows = (
    await db.query<{ id: string; run_id: string; step: number; status: string; error: string | null }>(
      'SELECT id, run_id, step, status, error FROM evaluation',
    )
  ).rows;
  const byKey = new Map(rows.map((r) => [`${r.run_id}/${r.step}`, r]));
  const dupKeys = (
    await db.query('SELECT run_id, step FROM evaluation GROUP BY run_id, step HAVING count(*) > 1')
  ).rowCount!;
  const dupResults = (
    await db.query(
      `SELECT evaluation_id FROM (
         SELECT evaluation_id, count(*) AS n FROM evaluation_vectors GROUP BY evaluation_id
         UNION ALL SELECT evaluation_id, count(*) / count(DISTINCT latent_index) FROM evaluation_latent GROUP BY evaluation_id
         UNION ALL SELECT evaluation_id, count(*) / count(DISTINCT name) FROM evaluation_direction GROUP BY evaluation_id
         UNION ALL SELECT evaluation_id, count(*) / count(DISTINCT rank) FROM evaluation_top_latent GROUP BY evaluation_id
         UNION ALL SELECT evaluation_id, count(*) / count(DISTINCT target) FROM evaluation_target_stat GROUP BY evaluation_id
       ) x WHERE n > 1`,
    )
  ).rowCount!;
  const lost = items.filter((it) => !byKey.has(`${it.runId}/${it.step}`) || !it.evaluationId).length;
  const wrongId = items.filter(
    (it) => it.evaluationId && byKey.get(`${it.runId}/${it.step}`)?.id !== it.evaluationId,
  ).length;
  const stuck = rows.filter((r) => r.status === 'queued' || r.status === 'running').length;
  const failedRows = rows.filter((r) => r.status === 'failed');
  const done = rows.filter((r) => r.status === 'done').length;
  for (const f of failedRows.slice(0, 5)) log(`failed: ${f.id} step ${f.step}: ${f.error}`);

  // Every done evaluation against the CPU engine on the same files.
  const engine = await createEngine({ backend: 'cpu' });
  const saeWeights = await loadSae(saeDir);
  const encodeDirections = seeded.directions.map((d) => ({
    name: d.name,
    vector: Float32Array.from(d.vector),
  }));
  let mismatched = 0;
  let checked = 0;
  for (const it of items) {
    const row = byKey.get(`${it.runId}/${it.step}`);
    if (!row || row.status !== 'done') continue;
    const direct = await engine.encode(saeWeights, parseActivations(it.bytes, 'direct'), {
      directions: encodeDirections,
    });
    const problem = await compare(db, row.id, direct);
    checked++;
    if (problem) {
      mismatched++;
      if (mismatched <= 5) log(`mismatch in evaluation ${row.id}: ${problem}`);
    }
  }
  await engine.dispose();
  const orphans = await orphanObjects(db);
  await db.end();

  failed =
    lost + wrongId + dupKeys + dupResults + stuck + failedRows.length + mismatched > 0 ||
    done !== items.length;
  log(
    `checked ${checked} evaluations against the engine; ${orphans} activation objects without an evaluation`,
  );
  log(
    `API restarts ${counts.apiRestarts}, workers that exited on their own ${counts.workerCrashes} ` +
      `(and ${counts.workerStartsWithoutPg} that could not start while Postgres was down)`,
  );
  console.log(`submitted ${items.length}`);
  console.log(`done ${done}`);
  console.log(`failed ${failedRows.length}`);
  console.log(`duplicates ${dupKeys + dupResults}`);
  console.log(`lost ${lost + wrongId}`);
  console.log(`stuck ${stuck}`);
  console.log(`mismatched ${mismatched}`);
  console.log(`kills ${counts.kills}`);
  // The outage as the workers saw it (their warn-level log lines).
  const workerLogs = readdirSync(work)
    .filter((f) => /^worker-\d+\.log$/.test(f))
    .map((f) => readFileSync(join(work, f), 'utf8'))
    .join('\n');
  const lines = (re: RegExp) => workerLogs.match(re)?.length ?? 0;
  console.log(
    `outage: transient retries ${lines(/infrastructure error; will retry/g)}, ` +
      `handed back ${lines(/job handed back to the sweeper/g)}, ` +
      `slots that waited for readiness ${lines(/not pulling until it answers/g)}`,
  );
  console.log(
    `restarts workers ${counts.workerRestarts}, nats ${counts.natsRestarts}, postgres ${counts.pgRestarts}`,
  );

  /** PUT until the API answers 202; 5xx and network errors are retried (the upload is idempotent). */
  async function submit(runId: string, step: number, bytes: Buffer): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > DEADLINE)
        throw new Error(`could not submit run ${runId} step ${step} before the deadline`);
      try {
        const res = await fetch(`${api}/v1/runs/${runId}/checkpoints/${step}/activations`, {
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream' },
          body: bytes,
          signal: AbortSignal.timeout(20_000),
        });
        const body = (await res.json()) as { evaluationId?: string; message?: string };
        if (res.status === 202 && body.evaluationId) return body.evaluationId;
        if (res.status < 500) throw new Error(`upload refused: ${res.status} ${JSON.stringify(body)}`);
      } catch (err) {
        if ((err as Error).message.startsWith('upload refused')) throw err;
      }
      retries.submit++;
      await sleep(Math.min(2_000, 250 * 2 ** Math.min(attempt, 3)));
    }
  }
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  stopping = true;
  await Promise.all([...children].map((c) => stopChild(c, 'SIGTERM', 10_000)));
  await nats.kill().catch(() => undefined);
  await postgres.stop('fast').catch(() => undefined);
  if (failed || flags.keep)
    console.error(`logs kept in ${work} (api.log, worker-*.log, nats.log, postgres.log)`);
  else await rm(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** One query on a connection of its own (empty when Postgres does not answer). */
async function pgClientQuery<T>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres.url('sentinel_faults') });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query(sql)).rows as T[];
  } catch {
    return [];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Compares what Postgres holds for one evaluation with the engine's direct output; a problem or null. */
async function compare(db: pg.Pool, id: string, direct: EncodeStats): Promise<string | null> {
  const [vectors] = (
    await db.query<{ mean: Buffer; frac_active: Buffer }>(
      'SELECT mean, frac_active FROM evaluation_vectors WHERE evaluation_id = $1',
      [id],
    )
  ).rows;
  if (!vectors) return 'no vectors row';
  const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (!vectors.mean.equals(f32(direct.mean))) return 'mean vector differs';
  if (!vectors.frac_active.equals(f32(direct.fracActive))) return 'frac_active vector differs';
  const latents = (
    await db.query<{
      latent_index: number;
      mean: number;
      frac_active: number;
      max: number;
      prompt_means: number[];
    }>(
      'SELECT latent_index, mean, frac_active, max, prompt_means FROM evaluation_latent WHERE evaluation_id = $1 ORDER BY latent_index',
      [id],
    )
  ).rows;
  if (latents.map((l) => l.latent_index).join() !== WATCH.join()) return `watched latents ${latents.length}`;
  for (const l of latents) {
    const i = l.latent_index;
    if (l.mean !== direct.mean[i] || l.frac_active !== direct.fracActive[i] || l.max !== direct.max[i]) {
      return `latent ${i} statistics differ`;
    }
    const want = Array.from({ length: direct.nPrompts }, (_, p) => direct.promptMean![p * direct.dSae + i]);
    if (l.prompt_means.map(Math.fround).join() !== want.join()) return `latent ${i} prompt means differ`;
  }
  const dirs = (
    await db.query<{ name: string; mean: number; prompt_means: number[] }>(
      'SELECT name, mean, prompt_means FROM evaluation_direction WHERE evaluation_id = $1 ORDER BY name',
      [id],
    )
  ).rows;
  if (dirs.length !== direct.directions.length) return `${dirs.length} direction rows`;
  for (const [k, d] of direct.directions.entries()) {
    if (dirs[k].name !== d.name || dirs[k].mean !== d.mean) return `direction ${d.name} differs`;
    if (dirs[k].prompt_means.map(Math.fround).join() !== Array.from(d.promptMeans).join())
      return `direction ${d.name} prompt means`;
  }
  const top = (
    await db.query<{ latent_index: number; mean: number }>(
      'SELECT latent_index, mean FROM evaluation_top_latent WHERE evaluation_id = $1 ORDER BY rank',
      [id],
    )
  ).rows;
  const wantTop = topByMean(direct.mean, 20);
  if (
    top.map((t) => `${t.latent_index}:${t.mean}`).join() !== wantTop.map((t) => `${t.index}:${t.mean}`).join()
  ) {
    return 'top latents differ';
  }
  return null;
}

/** Activation objects in the object store that no evaluation row points at (left by failed uploads). */
async function orphanObjects(db: pg.Pool): Promise<number> {
  const { connect } = await import('@nats-io/transport-node');
  const { Objm } = await import('@nats-io/obj');
  const nc = await connect({ servers: nats.url });
  try {
    const bucket = await new Objm(nc).open('faults-activations');
    const keys = new Set(
      (await db.query<{ object_key: string }>('SELECT object_key FROM evaluation')).rows.map(
        (r) => r.object_key,
      ),
    );
    const objects = await bucket.list();
    return objects.filter((o) => o.name.startsWith('runs/') && !keys.has(o.name)).length;
  } finally {
    await nc.close();
  }
}
