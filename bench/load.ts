// `npm run bench:load`: sustained HTTP load on the API as a process of its own, measured with autocannon,
// and the worker's memory over many evaluations.
//
// 1. Seeding + worker RSS: EVALUATIONS (1,000) evaluations through one worker process (CPU engine, a tiny
//    SAE: the pipeline, not the kernel, is under test), 20 runs × EVALUATIONS/20 checkpoints, submitted
//    through the REST API; the worker's VmRSS (/proc/<pid>/status) is sampled every EVALUATIONS/100
//    evaluations; it levels off when the last quarter's floor is back under the first half's peak.
// 2. Query load: SECONDS (60) of GET /v1/runs/:id/trend (rotating over the runs), then SECONDS of
//    GET /v1/fleet/drift?target=latent:3, each with CONNECTIONS (10) connections.
// 3. Submission load: SECONDS of PUT /v1/runs/:id/checkpoints/:step/activations, every request a new
//    checkpoint (a new evaluation row, object and job; the worker is stopped so the API has the cores).
//
// Uses the Postgres and NATS of DATABASE_URL / NATS_URL with a database and NATS prefix of its own,
// removed afterwards. Flags (after `--`): --seconds 60 --evaluations 1000 --connections 10.
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../libs/common/src/index.js';
import { dropDatabase, runMigrations } from '../libs/persistence/src/index.js';
import { activationsFile } from '../test/pipeline/support.js';
import { deleteNatsResources } from '../test/support/nats-cleanup.js';
import {
  API_MAIN,
  freePort,
  httpOk,
  rssBytes,
  spawnNode,
  stopChild,
  until,
  WORKER_MAIN,
} from '../test/support/processes.js';
import { seedSaeAndRuns } from '../test/support/seed-runs.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    evaluations: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(flags.seconds);
const EVALUATIONS = Number(flags.evaluations);
const CONNECTIONS = Number(flags.connections);
const RUNS = 20;
const D_IN = 32;
const D_SAE = 256;
const TOKENS = 128;
const SAMPLES = 100;

const id = `${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
const base = loadConfig();
const dbUrl = new URL(base.databaseUrl);
dbUrl.pathname = `/sentinel_load_${id}`;
const prefix = `load_${id}`;
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

const work = await mkdtemp(join(tmpdir(), 'sentinel-load-'));
const children: ChildProcess[] = [];
let code = 0;
try {
  await runMigrations(dbUrl.toString());
  const httpPort = await freePort();
  const env = {
    DATABASE_URL: dbUrl.toString(),
    NATS_URL: base.natsUrl,
    NATS_PREFIX: prefix,
    HTTP_PORT: String(httpPort),
    GRPC_PORT: String(await freePort()),
    WORKER_HTTP_PORT: '0',
    ENGINE_BACKEND: 'cpu',
    LOG_LEVEL: 'warn',
    // API keys are measured elsewhere; this is the pipeline's throughput.
    AUTH_REQUIRED: 'false',
  };
  const api = `http://127.0.0.1:${httpPort}`;
  const apiChild = spawnNode(API_MAIN, env, join(work, 'api.log'));
  children.push(apiChild);
  await until('the API', () => httpOk(`${api}/healthz`), 120_000);
  const worker = spawnNode(WORKER_MAIN, env, join(work, 'worker.log'));
  children.push(worker);

  const { runs } = await seedSaeAndRuns({
    api,
    dir: work,
    dIn: D_IN,
    dSae: D_SAE,
    weightsSeed: 2,
    name: 'load',
    latents: [3, 10, 50, 100],
    directions: [{ name: 'persona', vector: Array.from({ length: D_IN }, (_, i) => Math.sin(i + 1)) }],
    runs: RUNS,
  });
  const files = Array.from({ length: 16 }, (_, i) => activationsFile(TOKENS, D_IN, i + 1, { nPrompts: 8 }));

  // ---- 1. EVALUATIONS through one worker, RSS sampled every EVALUATIONS / SAMPLES -----------------
  const db = new pg.Pool({ connectionString: dbUrl.toString(), max: 2 });
  const doneCount = async () =>
    Number(
      (
        await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM evaluation WHERE status IN ('done', 'failed')`,
        )
      ).rows[0].n,
    );
  let submitted = 0;
  const upload = async (i: number) => {
    const res = await fetch(
      `${api}/v1/runs/${runs[i % RUNS]}/checkpoints/${Math.floor(i / RUNS)}/activations`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: files[i % files.length],
      },
    );
    if (res.status !== 202) throw new Error(`upload ${i}: ${res.status} ${await res.text()}`);
    await res.body?.cancel();
  };
  // Keep at most 40 evaluations waiting, so the worker is never idle and the queue never huge.
  const submitter = (async () => {
    while (submitted < EVALUATIONS) {
      const waiting = submitted - (await doneCount());
      if (waiting >= 40) {
        await sleep(100);
        continue;
      }
      const batch = Math.min(10, EVALUATIONS - submitted);
      await Promise.all(Array.from({ length: batch }, (_, k) => upload(submitted + k)));
      submitted += batch;
    }
  })();
  const every = Math.max(1, Math.floor(EVALUATIONS / SAMPLES));
  const samples: { evaluations: number; rssMiB: number }[] = [];
  const t0 = Date.now();
  for (let next = every; next <= EVALUATIONS;) {
    const done = await doneCount();
    if (done >= next) {
      const rss = rssBytes(worker.pid!);
      if (rss === null) throw new Error('the worker process is gone');
      samples.push({ evaluations: done, rssMiB: +(rss / 2 ** 20).toFixed(1) });
      if (samples.length % 10 === 0)
        log(`worker RSS ${samples.at(-1)!.rssMiB} MiB after ${done} evaluations`);
      next += every;
      continue;
    }
    if (worker.exitCode !== null) throw new Error(`the worker exited (${worker.exitCode})`);
    await sleep(100);
  }
  await submitter;
  const evaluationSeconds = (Date.now() - t0) / 1000;
  const failed = Number(
    (await db.query<{ n: string }>(`SELECT count(*) AS n FROM evaluation WHERE status = 'failed'`)).rows[0].n,
  );
  // RSS is a garbage-collection sawtooth (it climbs with every evaluation's garbage and drops at a major
  // collection, whose timing V8 adapts), and the first samples are the warm-up, so no single sample, floor
  // or peak is a trend. Levelled off: after its collections in the last quarter of the run, the worker
  // is back at or below the highest RSS of the first half; memory that evaluations leave behind would
  // push the last quarter's floor above it.
  const half = Math.floor(samples.length / 2);
  const stats = (part: typeof samples) => ({
    floorMiB: Math.min(...part.map((x) => x.rssMiB)),
    peakMiB: Math.max(...part.map((x) => x.rssMiB)),
  });
  const firstHalf = stats(samples.slice(0, half));
  const secondHalf = stats(samples.slice(half));
  const lastQuarter = stats(samples.slice(Math.floor((samples.length * 3) / 4)));
  const first = samples[0];
  const last = samples.at(-1)!;
  // Until the first major collection (a drop of 10+ MiB) RSS only climbs: a short run cannot be judged.
  const collected = samples.some((x, i) => i > 0 && samples[i - 1].rssMiB - x.rssMiB >= 10);
  const levelsOff = collected ? lastQuarter.floorMiB <= firstHalf.peakMiB : undefined;

  await stopChild(worker, 'SIGTERM');

  // ---- 2. query load, 3. submission load ------------------------------------------------------------
  let r = 0;
  const trend = await cannon('GET /v1/runs/:id/trend', {
    url: api,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, path: `/v1/runs/${runs[r++ % RUNS]}/trend` }),
      },
    ],
  });
  const drift = await cannon('GET /v1/fleet/drift?target=latent:3', {
    url: `${api}/v1/fleet/drift?target=latent%3A3`,
  });
  let step = 1_000_000;
  const body = files[0];
  const submit = await cannon('PUT activations (new checkpoint each)', {
    url: api,
    requests: [
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        setupRequest: (req) => ({
          ...req,
          path: `/v1/runs/${runs[step % RUNS]}/checkpoints/${step++}/activations`,
        }),
      },
    ],
  });
  await db.end();

  const summary = {
    machine: {
      cpus: cpus().length,
      memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
      loadAverage: loadavg().map((l) => +l.toFixed(2)),
      node: process.version,
    },
    seconds: SECONDS,
    connections: CONNECTIONS,
    queries: [trend, drift],
    submissions: { ...submit, bodyBytes: body.byteLength },
    worker: {
      evaluations: EVALUATIONS,
      failed,
      seconds: +evaluationSeconds.toFixed(1),
      evaluationsPerSecond: +(EVALUATIONS / evaluationSeconds).toFixed(1),
      rssMiB: samples,
      firstHalf,
      secondHalf,
      lastQuarter,
      levelsOff,
    },
  };
  console.log(JSON.stringify(summary, null, 2));
  for (const q of [trend, drift, submit]) {
    console.log(
      `${q.name}: ${q.requestsPerSecond} req/s, p50 ${q.p50Ms} ms, p99 ${q.p99Ms} ms, ` +
        `${q.total} requests, ${q.non2xx} non-2xx, ${q.errors} errors, ${q.timeouts} timeouts`,
    );
  }
  console.log(
    `worker RSS over ${EVALUATIONS} evaluations: ${first.rssMiB} MiB after ${first.evaluations}, ` +
      `${last.rssMiB} after ${last.evaluations}; first half floor ${firstHalf.floorMiB} / peak ` +
      `${firstHalf.peakMiB} MiB, second half floor ${secondHalf.floorMiB} / peak ${secondHalf.peakMiB} MiB, last quarter floor ${lastQuarter.floorMiB}: ` +
      (levelsOff === undefined
        ? 'not judged: no major collection yet (run more --evaluations)'
        : levelsOff
          ? 'levels off'
          : 'still growing'),
  );
  if (levelsOff === false || failed || trend.errors + drift.errors + submit.errors > 0) code = 1;
} catch (err) {
  console.error(err);
  code = 1;
} finally {
  await Promise.all(children.map((c) => stopChild(c, 'SIGTERM')));
  await dropDatabase(dbUrl.toString()).catch((err: Error) => log(`could not drop database: ${err.message}`));
  await deleteNatsResources(base.natsUrl, prefix).catch((err: Error) => log(`NATS cleanup: ${err.message}`));
  if (code) log(`logs kept in ${work}`);
  else await rm(work, { recursive: true, force: true });
}
process.exit(code);

interface CannonResult {
  name: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function cannon(name: string, options: autocannon.Options): Promise<CannonResult> {
  log(`${name}: ${SECONDS} s, ${CONNECTIONS} connections`);
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...options });
  return {
    name,
    requestsPerSecond: +result.requests.average.toFixed(1),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}
