// `npm run bench:queries`: loads 1,000 runs × 200 checkpoints × 16 watched latents (3.2M per-checkpoint
// statistics, 20 rising latents per evaluation, ~20k alerts) into a database of its own, then measures
// p50/p99 of the three read paths early warning serves (run trend, fleet drift, alerts feed), alone and
// with 32 concurrent clients, through the same EarlyWarningQueries the REST and gRPC handlers call, on
// the app's pool (10 connections). Prints a Markdown report with the EXPLAIN (ANALYZE, BUFFERS) plan of
// each query's main statement, and drops the database.
//
// Sizes: BENCH_RUNS (1000), BENCH_CHECKPOINTS (200), BENCH_LATENTS (16), BENCH_TOPK (20),
// BENCH_ITERATIONS (200 sequential calls per query), BENCH_CLIENTS (32). Keep the database:
// BENCH_KEEP_DB=1.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { loadConfig } from '../libs/common/src/config/config.js';
import {
  AlertsRepository,
  AnalysisRepository,
  EarlyWarningQueries,
  EarlyWarningService,
  QueriesRepository,
  type AlertDispatcher,
} from '../libs/early-warning/src/index.js';
import { createDataSource, dropDatabase, runMigrations } from '../libs/persistence/src/index.js';
import { type DataSource } from 'typeorm';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 1000);
const CHECKPOINTS = env('BENCH_CHECKPOINTS', 200);
const LATENTS = env('BENCH_LATENTS', 16);
const TOPK = env('BENCH_TOPK', 20);
const ITERATIONS = env('BENCH_ITERATIONS', 200);
const CLIENTS = env('BENCH_CLIENTS', 32);
const PROJECTS = 10;

const base = new URL(loadConfig().databaseUrl);
const url = new URL(base);
// BENCH_DATABASE: measure an already loaded database (kept by an earlier BENCH_KEEP_DB=1 run) again.
const reuse = process.env.BENCH_DATABASE;
url.pathname = `/${reuse ?? `sentinel_bench_queries_${randomBytes(3).toString('hex')}`}`;
const databaseUrl = url.toString();

function log(message: string) {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const out = await fn();
  log(`${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return out;
}

/**
 * The data set, generated in Postgres (INSERT … SELECT over generate_series, no round trips): every
 * seventh run is "contaminated" (its first four latents rise with the step and carry open alerts), every
 * third run has resolved alerts, the rest is noise around zero.
 */
async function load(dataSource: DataSource): Promise<void> {
  // One session for the whole load: bulk-load settings are per session. Foreign-key triggers are off
  // (session_replication_role = replica; the generator only writes valid keys) and the two big tables'
  // indexes are built after their rows, as a bulk load would; everything is checked by ANALYZE after.
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  const ds = { query: (sql: string, params?: unknown[]) => runner.query(sql, params) };
  await ds.query(`SET session_replication_role = replica`);
  await ds.query(`SET maintenance_work_mem = '256MB'`);
  await ds.query(`SELECT setseed(0.42)`);
  await ds.query(`ALTER TABLE evaluation_target_stat DROP CONSTRAINT evaluation_target_stat_pkey`);
  await ds.query(`DROP INDEX evaluation_target_stat_run_idx`);
  await ds.query(`ALTER TABLE evaluation_rising_latent DROP CONSTRAINT evaluation_rising_latent_pkey`);
  await ds.query(`DROP INDEX evaluation_rising_latent_run_idx`);
  const [{ id: saeId }] = await ds.query(
    `INSERT INTO sae (name, format, architecture, d_in, d_sae, dtype, object_key, size_bytes, sha256)
     VALUES ('bench', 'saelens', 'jumprelu', 2304, 16384, 'F32', 'bench/sae', 0, repeat('ab', 32)) RETURNING id`,
  );
  await ds.query(
    `INSERT INTO watchlist_latent (sae_id, latent_index, label)
     SELECT $1, g * 97, 'latent ' || g * 97 FROM generate_series(0, $2 - 1) g`,
    [saeId, LATENTS],
  );
  await timed(`runs (${RUNS})`, () =>
    ds.query(
      `INSERT INTO run (name, project, model, sae_id, created_at)
       SELECT 'run-' || r, 'project-' || (r % ${PROJECTS}), 'model-' || (r % 3), $1,
              now() - (($2 - r) || ' hours')::interval
         FROM generate_series(0, $2 - 1) r`,
      [saeId, RUNS],
    ),
  );
  await timed(`evaluations (${RUNS * CHECKPOINTS})`, () =>
    ds.query(
      `INSERT INTO evaluation (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens, n_prompts, finished_at)
       SELECT r.id, s * 50, 'done', md5(r.id::text || s), 'bench/acts', 0, 4096, 32, r.created_at + s * interval '1 minute'
         FROM run r CROSS JOIN generate_series(0, $1 - 1) s`,
      [CHECKPOINTS],
    ),
  );
  await timed(`evaluation_target_stat (${RUNS * CHECKPOINTS * LATENTS})`, () =>
    ds.query(
      `INSERT INTO evaluation_target_stat
         (evaluation_id, target, run_id, step, kind, latent_index, baseline_evaluation_id, mean, baseline_mean,
          delta, n_prompts, se, t, p, z, cusum, trend_p, trend_slope)
       SELECT e.id, 'latent:' || w.latent_index, e.run_id, e.step, 'latent', w.latent_index, b.id,
              0.5 + v.delta, 0.5, v.delta, 32, 0.02, v.delta / 0.02, greatest(1e-12, exp(-abs(v.delta) / 0.02)),
              v.delta / 0.1, greatest(0, v.delta / 0.1 - 0.75) * e.step / 50, 0.5, v.delta / greatest(e.step, 1)
         FROM evaluation e
         JOIN run r ON r.id = e.run_id
         JOIN evaluation b ON b.run_id = e.run_id AND b.step = 0
         CROSS JOIN watchlist_latent w
         CROSS JOIN LATERAL (
           SELECT CASE WHEN e.step = 0 THEN 0
                       WHEN substring(r.name from 5)::int % 7 = 0 AND w.latent_index < 4 * 97 THEN e.step / 5000.0 + 0.01 * (random() - 0.5)
                       ELSE 0.02 * (random() - 0.5) END AS delta) v
        WHERE w.sae_id = r.sae_id`,
    ),
  );
  await timed(`evaluation_rising_latent (${RUNS * (CHECKPOINTS - 1) * TOPK})`, () =>
    ds.query(
      `INSERT INTO evaluation_rising_latent
         (evaluation_id, rank, run_id, step, baseline_evaluation_id, latent_index, mean, baseline_mean, delta)
       SELECT e.id, k, e.run_id, e.step, b.id, (k * 811 + (hashtext(e.run_id::text) & 1023)) % 16384,
              0.2 + 1.0 / k, 0.2, 1.0 / k
         FROM evaluation e
         JOIN evaluation b ON b.run_id = e.run_id AND b.step = 0
         CROSS JOIN generate_series(1, $1) k
        WHERE e.step > 0`,
      [TOPK],
    ),
  );
  await timed('alerts', async () => {
    // Contaminated runs: three open alerts (one per rule) on each of their first four latents.
    await ds.query(
      `INSERT INTO alert (run_id, project, target, kind, latent_index, rule, severity, status, opened_at_step,
                          evidence, opened_at, updated_at)
       SELECT r.id, r.project, 'latent:' || w.latent_index, 'latent', w.latent_index, rule.name, rule.severity,
              'open', 1000 + rule.ord * 500, jsonb_build_object('opened', jsonb_build_object('step', 1000)),
              r.created_at + interval '2 hours', r.created_at + interval '3 hours'
         FROM run r
         JOIN watchlist_latent w ON w.sae_id = r.sae_id AND w.latent_index < 4 * 97
         CROSS JOIN (VALUES ('threshold', 'warning', 1), ('cusum', 'critical', 2), ('trend', 'watch', 0))
                    AS rule(name, severity, ord)
        WHERE substring(r.name from 5)::int % 7 = 0`,
    );
    // Every third run: two resolved episodes per latent, as noise would leave them.
    await ds.query(
      `INSERT INTO alert (run_id, project, target, kind, latent_index, rule, severity, status, opened_at_step,
                          resolved_at_step, evidence, opened_at, updated_at, resolved_at)
       SELECT r.id, r.project, 'latent:' || w.latent_index, 'latent', w.latent_index, 'trend', 'watch', 'resolved',
              ep * 2000, ep * 2000 + 300, '{}'::jsonb, r.created_at + ep * interval '1 hour',
              r.created_at + ep * interval '1 hour' + interval '5 minutes', r.created_at + ep * interval '1 hour'
         FROM run r
         JOIN watchlist_latent w ON w.sae_id = r.sae_id
         CROSS JOIN generate_series(1, 2) ep
        WHERE hashtext(r.name) % 3 = 0`,
    );
  });
  await timed('indexes', async () => {
    await ds.query(`ALTER TABLE evaluation_target_stat ADD PRIMARY KEY (evaluation_id, target)`);
    await ds.query(
      `CREATE INDEX evaluation_target_stat_run_idx ON evaluation_target_stat (run_id, target, step)
         INCLUDE (mean, delta, se, t, p, z, cusum)`,
    );
    await ds.query(`ALTER TABLE evaluation_rising_latent ADD PRIMARY KEY (evaluation_id, rank)`);
    await ds.query(
      `CREATE INDEX evaluation_rising_latent_run_idx ON evaluation_rising_latent (run_id, step)`,
    );
  });
  await ds.query(`RESET session_replication_role`);
  await runner.release();
  await timed('VACUUM ANALYZE', () => dataSource.query(`VACUUM ANALYZE`));
}

interface Stats {
  n: number;
  errors: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
  perSecond: number;
}

function summarize(samples: number[], errors: number, wallMs: number): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  return {
    n: samples.length,
    errors,
    p50: q(0.5),
    p99: q(0.99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    max: sorted[sorted.length - 1],
    perSecond: (samples.length / wallMs) * 1000,
  };
}

async function measure(fn: (i: number) => Promise<unknown>, clients: number, total: number): Promise<Stats> {
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        try {
          await fn(i);
          samples.push(performance.now() - t);
        } catch {
          // e.g. no pool connection within the 5 s connect timeout: counted, not timed
          errors++;
        }
      }
    }),
  );
  return summarize(samples, errors, performance.now() - start);
}

/** A DataSource stand-in that remembers the SQL of the last call, to EXPLAIN exactly what ran. */
function recording(ds: DataSource) {
  const calls: { sql: string; params: unknown[] }[] = [];
  const proxy = {
    query: (sql: string, params: unknown[] = []) => {
      calls.push({ sql, params });
      return ds.query(sql, params);
    },
  } as unknown as DataSource;
  return { proxy, calls };
}

async function main() {
  log(`database ${url.pathname.slice(1)}: ${RUNS} runs × ${CHECKPOINTS} checkpoints × ${LATENTS} latents`);
  if (!reuse) await runMigrations(databaseUrl);
  const ds = createDataSource(databaseUrl, 'bench-queries');
  await ds.initialize();
  try {
    const loadStart = performance.now();
    if (!reuse) await load(ds);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const [counts] = await ds.query(
      `SELECT (SELECT count(*) FROM evaluation_target_stat)::int AS stats,
              (SELECT count(*) FROM evaluation_rising_latent)::int AS rising,
              (SELECT count(*) FROM alert)::int AS alerts,
              (SELECT count(*) FROM alert WHERE status = 'open')::int AS open_alerts,
              pg_size_pretty(pg_database_size(current_database())) AS size`,
    );
    const runIds: string[] = (await ds.query(`SELECT id FROM run ORDER BY name`)).map(
      (r: { id: string }) => r.id,
    );
    const latents: number[] = (await ds.query(`SELECT latent_index FROM watchlist_latent ORDER BY 1`)).map(
      (r: { latent_index: number }) => r.latent_index,
    );

    const { proxy, calls } = recording(ds);
    const queries = new EarlyWarningQueries(
      new QueriesRepository(proxy),
      new AlertsRepository(proxy),
      null as unknown as AlertDispatcher,
    );
    const cases: {
      name: string;
      fn: (i: number) => Promise<unknown>;
      explainCall: (sql: string) => boolean;
    }[] = [
      {
        name: 'run trend (16 series × 200 points + alerts)',
        fn: (i) => queries.runTrend(runIds[(i * 7919) % runIds.length]),
        explainCall: (sql) =>
          sql.includes('FROM evaluation_target_stat') && sql.includes('ORDER BY target, step'),
      },
      {
        name: `fleet drift (one target, all ${RUNS} runs, sorted by delta)`,
        fn: (i) => queries.fleetDrift({ target: `latent:${latents[i % latents.length]}` }),
        explainCall: (sql) => sql.includes('CROSS JOIN LATERAL'),
      },
      {
        name: 'fleet drift (one project, one model)',
        fn: (i) =>
          queries.fleetDrift({
            target: `latent:${latents[i % latents.length]}`,
            project: `project-${i % PROJECTS}`,
            model: `model-${i % 3}`,
          }),
        explainCall: (sql) => sql.includes('CROSS JOIN LATERAL') && sql.includes('r.model'),
      },
      {
        name: 'alerts feed (project, open, newest 100)',
        fn: (i) => queries.listAlerts({ project: `project-${i % PROJECTS}`, status: 'open', limit: 100 }),
        explainCall: (sql) => sql.includes('FROM alert') && sql.includes('project ='),
      },
      {
        name: 'alerts feed (all, newest 100)',
        fn: () => queries.listAlerts({ limit: 100 }),
        explainCall: (sql) =>
          sql.includes('FROM alert') && sql.includes('ORDER BY updated_at DESC') && !sql.includes('WHERE'),
      },
    ];

    const rows: string[] = [];
    const plans: string[] = [];
    for (const c of cases) {
      await measure(c.fn, 1, 20); // warm the cache and the plan paths
      calls.length = 0;
      const alone = await measure(c.fn, 1, ITERATIONS);
      const call = [...calls].reverse().find((x) => c.explainCall(x.sql));
      const concurrent = await measure(c.fn, CLIENTS, ITERATIONS * 4);
      const fmt = (s: Stats) =>
        `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} ms${s.errors ? ` (${s.errors} failed)` : ''}`;
      rows.push(
        `| ${c.name} | ${fmt(alone)} | ${alone.perSecond.toFixed(0)} | ${fmt(concurrent)} | ${concurrent.perSecond.toFixed(0)} |`,
      );
      log(`${c.name}: alone ${fmt(alone)}, ${CLIENTS} clients ${fmt(concurrent)}`);
      if (call) {
        const plan: { 'QUERY PLAN': string }[] = await ds.query(
          `EXPLAIN (ANALYZE, BUFFERS) ${call.sql}`,
          call.params,
        );
        plans.push(
          `#### ${c.name}\n\n\`\`\`sql\n${call.sql.replace(/\n\s+/g, '\n  ').trim()}\n\`\`\`\n\n\`\`\`text\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n\`\`\``,
        );
      }
    }

    // The write side: processEvaluation re-derives a whole run (here 200 checkpoints × 16 latents with 32
    // prompt means each) after every evaluation. Prompt means are seeded for one run only.
    const [probe] = await ds.query(`SELECT id FROM run ORDER BY name LIMIT 1`);
    await ds.query(
      `INSERT INTO evaluation_latent (evaluation_id, latent_index, mean, frac_active, max, prompt_means)
       SELECT e.id, w.latent_index, 0.5, 0.1, 1,
              ARRAY(SELECT (0.5 + 0.05 * random() + 0 * e.step)::real FROM generate_series(1, 32))
         FROM evaluation e JOIN run r ON r.id = e.run_id JOIN watchlist_latent w ON w.sae_id = r.sae_id
        WHERE e.run_id = $1
       ON CONFLICT DO NOTHING`,
      [probe.id],
    );
    const [lastEval] = await ds.query(
      `SELECT id FROM evaluation WHERE run_id = $1 ORDER BY step DESC LIMIT 1`,
      [probe.id],
    );
    const dispatcher = { afterCommit: async () => undefined } as unknown as AlertDispatcher;
    const service = new EarlyWarningService(
      ds,
      new AnalysisRepository(),
      new AlertsRepository(ds),
      dispatcher,
    );
    const firstStart = performance.now();
    await service.process(lastEval.id);
    const first = performance.now() - firstStart;
    const again = await measure(() => service.process(lastEval.id), 1, 10);
    rows.push(
      `| processEvaluation, one run of ${CHECKPOINTS} checkpoints × ${LATENTS} latents × 32 prompts (first: ${first.toFixed(0)} ms; then nothing changes) | ${again.p50.toFixed(1)} / ${again.p99.toFixed(1)} ms | ${again.perSecond.toFixed(1)} | — | — |`,
    );
    log(`processEvaluation: first ${first.toFixed(0)} ms, then ${again.p50.toFixed(0)} ms p50`);

    const [{ version }] = await ds
      .query(`SHOW server_version`)
      .then((r: { server_version: string }[]) => [{ version: r[0].server_version }]);
    console.log(`Data: ${RUNS} runs × ${CHECKPOINTS} checkpoints × ${LATENTS} watched latents = ${counts.stats.toLocaleString('en')} statistics rows, ${counts.rising.toLocaleString('en')} rising-latent rows, ${counts.alerts.toLocaleString('en')} alerts (${counts.open_alerts.toLocaleString('en')} open); database ${counts.size}; loaded in ${loadSeconds.toFixed(0)} s.
Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ', ',
      )} at the end), Node ${process.version}, Postgres ${version}; pool of 10 connections; ${ITERATIONS} calls alone, ${ITERATIONS * 4} calls from ${CLIENTS} concurrent clients.

| query | alone p50 / p99 | alone calls/s | ${CLIENTS} clients p50 / p99 | ${CLIENTS} clients calls/s |
| ----- | --------------- | ------------- | ------------------------- | ------------------------- |
${rows.join('\n')}

${plans.join('\n\n')}`);
  } finally {
    await ds.destroy();
    if (!process.env.BENCH_KEEP_DB && !reuse) await dropDatabase(databaseUrl);
  }
}

await main();
