// `npm run bench:early-warning`: the cost of EarlyWarningService.process — the recompute the worker runs
// after every evaluation — for the newest checkpoint of runs of N = 100, 300 and 1,000 checkpoints
// (16 watched latents, 32 prompts, d_sae 16,384 mean vectors), in a database of its own (dropped
// afterwards). Every timed call is what the worker meets: the newest checkpoint has just become `done`
// (before it, the run was processed without it), so one checkpoint's statistics, its rising latents and
// whatever alerts it changes are new. Also timed: a redelivery (the same call again, nothing changes).
// Reports p50 and the split across phases (series read, analyseTarget, replaceTargetStats, reconcile,
// computeRising, rest = lock, baseline, watchlist, transaction).
//
// The data is a function of the sizes (no random()): two builds can be compared on the same runs, and
// with BENCH_KEEP_DB=1 (keep the database) on what they stored.
//
// Sizes: BENCH_EW_SIZES (100,300,1000), BENCH_EW_LATENTS (16), BENCH_EW_ITERATIONS (5).
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { type DataSource } from 'typeorm';
import { loadConfig } from '../libs/common/src/config/config.js';
import {
  AlertsRepository,
  AnalysisRepository,
  EarlyWarningService,
  type AlertDispatcher,
} from '../libs/early-warning/src/index.js';
import { createDataSource, dropDatabase, runMigrations } from '../libs/persistence/src/index.js';

const SIZES = (process.env.BENCH_EW_SIZES ?? '100,300,1000').split(',').map(Number);
const LATENTS = Number(process.env.BENCH_EW_LATENTS ?? 16);
const ITERATIONS = Number(process.env.BENCH_EW_ITERATIONS ?? 5);
const PROMPTS = 32;
const D_SAE = 16384;
const PHASES = ['series', 'analyse', 'replaceTargetStats', 'reconcile', 'computeRising', 'rest'] as const;
type Phase = (typeof PHASES)[number];

const url = new URL(loadConfig().databaseUrl);
url.pathname = `/sentinel_bench_ew_${randomBytes(3).toString('hex')}`;
const databaseUrl = url.toString();

function log(message: string) {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/**
 * One run of `n` done checkpoints (step = 50·i) generated in Postgres. Latents 0–3 (of the watchlist)
 * rise after the middle of the run, so alerts open; the rest is noise around the baseline.
 */
async function seedRun(ds: DataSource, saeId: string, n: number): Promise<string> {
  const [{ id: runId }] = await ds.query(
    `INSERT INTO run (name, project, model, sae_id) VALUES ($1, 'bench', 'tiny', $2) RETURNING id`,
    [`run-${n}`, saeId],
  );
  await ds.query(
    `INSERT INTO evaluation (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens, n_prompts, finished_at)
     SELECT $1::uuid, s * 50, 'done', md5($1::text || s), 'bench/acts', 0, 4096, ${PROMPTS}, now()
       FROM generate_series(0, $2 - 1) s`,
    [runId, n],
  );
  // Signal of latent rank r < 4 at step s: 0 for the first half, then rising linearly (0.3 at the end).
  await ds.query(
    `INSERT INTO evaluation_latent (evaluation_id, latent_index, mean, frac_active, max, prompt_means)
     SELECT e.id, w.latent_index, avg(v.x), 0.1, 1, array_agg(v.x::real ORDER BY v.i)
       FROM evaluation e
       JOIN watchlist_latent w ON w.sae_id = $2
       CROSS JOIN LATERAL (
         SELECT i, 0.5 + 0.05 * ((hashtext(e.step || ':' || w.latent_index || ':' || i) & 65535) / 65536.0)
                + CASE WHEN w.latent_index < 4 * 97 AND e.step > $3 * 25
                       THEN 0.3 * (e.step - $3 * 25) / ($3 * 25.0) ELSE 0 END AS x
           FROM generate_series(1, ${PROMPTS}) i) v
      WHERE e.run_id = $1
      GROUP BY e.id, w.latent_index`,
    [runId, saeId, n],
  );
  // Mean vectors: 1.0 at the baseline, then the last 384 latents at 2.0 (model diffing finds 20).
  await ds.query(
    `INSERT INTO evaluation_vectors (evaluation_id, d_sae, encoding, mean)
     SELECT e.id, ${D_SAE}, 'f32le',
            CASE WHEN e.step = 0 THEN decode(repeat('0000803f', ${D_SAE}), 'hex')
                 ELSE decode(repeat('0000803f', ${D_SAE - 384}) || repeat('00000040', 384), 'hex') END
       FROM evaluation e WHERE e.run_id = $1`,
    [runId],
  );
  return runId;
}

/** Wraps the service's collaborators so each call's time is split across the phases. */
function instrument(service: EarlyWarningService, analysis: AnalysisRepository, alerts: AlertsRepository) {
  const spent: Record<Phase, number> = {
    series: 0,
    analyse: 0,
    replaceTargetStats: 0,
    reconcile: 0,
    computeRising: 0,
    rest: 0,
  };
  const wrap = <T extends object>(obj: T, method: string, phase: Phase) => {
    const o = obj as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = o[method].bind(obj);
    o[method] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        spent[phase] += performance.now() - t;
      }
    };
  };
  wrap(analysis, 'series', 'series');
  wrap(analysis, 'replaceTargetStats', 'replaceTargetStats');
  wrap(alerts, 'reconcile', 'reconcile');
  wrap(service, 'computeRising', 'computeRising');
  // analyseTarget is a plain function the service calls between the series read and replaceTargetStats:
  // the time from the end of the last series read to the start of replaceTargetStats is analysis.
  let seriesEnd = 0;
  const a = analysis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const series = a.series;
  a.series = async (...args: unknown[]) => {
    const out = await series(...args);
    seriesEnd = performance.now();
    return out;
  };
  const replace = a.replaceTargetStats;
  a.replaceTargetStats = async (...args: unknown[]) => {
    spent.analyse += performance.now() - seriesEnd;
    return replace(...args);
  };
  return spent;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Sample {
  total: number;
  phases: Record<Phase, number>;
  alertEvents: number;
}

async function timedProcess(
  service: EarlyWarningService,
  spent: Record<Phase, number>,
  evaluationId: string,
): Promise<Sample> {
  for (const p of PHASES) spent[p] = 0;
  const t = performance.now();
  const result = await service.process(evaluationId);
  const total = performance.now() - t;
  const phases = { ...spent };
  phases.rest = total - PHASES.filter((p) => p !== 'rest').reduce((s, p) => s + spent[p], 0);
  return { total, phases, alertEvents: result.alertEvents };
}

function row(label: string, samples: Sample[]): string {
  const cell = (p: Phase) => median(samples.map((s) => s.phases[p])).toFixed(1);
  return `| ${label} | **${median(samples.map((s) => s.total)).toFixed(1)}** | ${PHASES.map(cell).join(' | ')} |`;
}

async function main() {
  log(`database ${url.pathname.slice(1)}: runs of ${SIZES.join(', ')} checkpoints × ${LATENTS} latents`);
  await runMigrations(databaseUrl);
  const ds = createDataSource(databaseUrl, 'bench-early-warning');
  await ds.initialize();
  const started = performance.now();
  try {
    const [{ id: saeId }] = await ds.query(
      `INSERT INTO sae (name, format, architecture, d_in, d_sae, dtype, object_key, size_bytes, sha256)
       VALUES ('bench', 'saelens', 'jumprelu', 2304, ${D_SAE}, 'F32', 'bench/sae', 0, repeat('ab', 32)) RETURNING id`,
    );
    await ds.query(
      `INSERT INTO watchlist_latent (sae_id, latent_index, label)
       SELECT $1, g * 97, 'latent ' || g * 97 FROM generate_series(0, $2 - 1) g`,
      [saeId, LATENTS],
    );
    const runs: { n: number; id: string }[] = [];
    for (const n of SIZES) runs.push({ n, id: await seedRun(ds, saeId, n) });
    await ds.query(`VACUUM ANALYZE`);
    log(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const analysis = new AnalysisRepository();
    const alerts = new AlertsRepository(ds);
    const dispatcher = { afterCommit: async () => undefined } as unknown as AlertDispatcher;
    const service = new EarlyWarningService(ds, analysis, alerts, dispatcher);
    const spent = instrument(service, analysis, alerts);

    const rows: string[] = [];
    const summary: string[] = [];
    for (const { n, id: runId } of runs) {
      const [newest] = await ds.query(
        `SELECT id FROM evaluation WHERE run_id = $1 ORDER BY step DESC LIMIT 1`,
        [runId],
      );
      const first = await timedProcess(service, spent, newest.id); // the whole run from nothing
      const fresh: Sample[] = [];
      const again: Sample[] = [];
      for (let i = 0; i < ITERATIONS; i++) {
        // Back to the state before the newest checkpoint was done (untimed), then the worker's call.
        await ds.query(`UPDATE evaluation SET status = 'running' WHERE id = $1`, [newest.id]);
        await ds.query(`DELETE FROM evaluation_rising_latent WHERE evaluation_id = $1`, [newest.id]);
        await service.process(newest.id);
        await ds.query(`UPDATE evaluation SET status = 'done' WHERE id = $1`, [newest.id]);
        fresh.push(await timedProcess(service, spent, newest.id));
        again.push(await timedProcess(service, spent, newest.id));
      }
      const [{ stats, open }] = await ds.query(
        `SELECT (SELECT count(*) FROM evaluation_target_stat WHERE run_id = $1)::int AS stats,
                (SELECT count(*) FROM alert WHERE run_id = $1)::int AS open`,
        [runId],
      );
      rows.push(row(`N = ${n}, newest checkpoint done`, fresh));
      rows.push(row(`N = ${n}, redelivery (no change)`, again));
      summary.push(
        `N = ${n}: first call (whole run from nothing) ${first.total.toFixed(0)} ms; ${stats} statistics rows, ${open} alerts`,
      );
      log(
        `N = ${n}: newest ${median(fresh.map((s) => s.total)).toFixed(0)} ms p50, redelivery ${median(again.map((s) => s.total)).toFixed(0)} ms p50`,
      );
    }
    const [{ server_version }] = await ds.query(`SHOW server_version`);
    console.log(`Runs of ${SIZES.join(', ')} checkpoints × ${LATENTS} watched latents × ${PROMPTS} prompts; p50 of ${ITERATIONS} calls each (ms).
Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ', ',
      )} at the end), Node ${process.version}, Postgres ${server_version}; ${((performance.now() - started) / 1000).toFixed(0)} s in all.
${summary.map((s) => `- ${s}`).join('\n')}

| call | total | ${PHASES.join(' | ')} |
| ---- | ----- | ${PHASES.map(() => '---').join(' | ')} |
${rows.join('\n')}`);
  } finally {
    await ds.destroy();
    if (!process.env.BENCH_KEEP_DB) await dropDatabase(databaseUrl);
  }
}

await main();
