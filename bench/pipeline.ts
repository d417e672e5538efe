// `npm run bench:pipeline`: evaluations through the whole path (REST upload → object store → JetStream →
// worker processes → Postgres) with 1 and 2 workers. Prints, per worker count: throughput with a full
// queue, submit-to-done latency p50/p99 one at a time (no queueing) and under load, and the share of the
// worker's and of the end-to-end time spent outside the encode kernel.
//
// Uses the Postgres and NATS of DATABASE_URL / NATS_URL with a database and prefix of its own, removed
// afterwards. Sizes: BENCH_TOKENS (4096), BENCH_D_IN (128), BENCH_D_SAE (2048), BENCH_EVALS (12), BENCH_SEQUENTIAL (4),
// ENGINE_BACKEND (auto).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { createApiApp } from '../apps/api/src/app.js';
import { loadConfig } from '../libs/common/src/index.js';
import { dropDatabase, runMigrations } from '../libs/persistence/src/index.js';
import { syntheticSaeWeights, writeSaeLensFolder, writeSafetensors } from '../libs/sae/src/index.js';
import { deleteNatsResources } from '../test/support/nats-cleanup.js';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 4096);
const D_IN = Number(process.env.BENCH_D_IN ?? 128);
const D_SAE = Number(process.env.BENCH_D_SAE ?? 2048);
const EVALS = Number(process.env.BENCH_EVALS ?? 12);
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 4);
const BACKEND = process.env.ENGINE_BACKEND ?? 'auto';
const WORKER_MAIN = fileURLToPath(new URL('../apps/worker/src/main.js', import.meta.url));

const id = `${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
const base = loadConfig();
const dbUrl = new URL(base.databaseUrl);
dbUrl.pathname = `/sentinel_bench_${id}`;
const env = {
  ...process.env,
  DATABASE_URL: dbUrl.toString(),
  NATS_PREFIX: `bench_${id}`,
  HTTP_PORT: '0',
  WORKER_HTTP_PORT: '0',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  ENGINE_BACKEND: BACKEND,
  // The in-process API of the bench serves only the bench: no API keys.
  AUTH_REQUIRED: 'false',
};
const config = loadConfig(env);

function activations(seed: number): Buffer {
  let s = seed >>> 0 || 1;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const data = Float32Array.from({ length: TOKENS * D_IN }, rand);
  const prompts = 16;
  const offsets = Array.from({ length: prompts + 1 }, (_, p) => Math.round((p * TOKENS) / prompts));
  return writeSafetensors({
    activations: { dtype: 'F32', shape: [TOKENS, D_IN], data },
    prompt_offsets: { dtype: 'I32', shape: [prompts + 1], data: offsets },
  });
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function main() {
  await runMigrations(config.databaseUrl);
  const api = await createApiApp(config, false);
  await api.listen(0, '127.0.0.1');
  const url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  const db = api.get(DataSource);
  const children: ChildProcess[] = [];
  const saeDir = await mkdtemp(join(tmpdir(), 'sentinel-bench-sae-'));
  const post = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const res = await fetch(url + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const upload = async (runId: string, step: number, bytes: Buffer): Promise<string> => {
    const res = await fetch(`${url}/v1/runs/${runId}/checkpoints/${step}/activations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    if (res.status !== 202) throw new Error(`upload: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { evaluationId: string }).evaluationId;
  };
  const waitDone = async (runId: string, n: number) => {
    for (;;) {
      const [{ open, failed }]: { open: string; failed: string }[] = await db.query(
        `SELECT count(*) FILTER (WHERE status IN ('queued', 'running')) AS open,
                count(*) FILTER (WHERE status = 'failed') AS failed
           FROM evaluation WHERE run_id = $1`,
        [runId],
      );
      if (Number(failed)) throw new Error(`${failed} evaluations failed`);
      if (Number(open) === 0) {
        const [{ total }]: { total: string }[] = await db.query(
          'SELECT count(*) AS total FROM evaluation WHERE run_id = $1',
          [runId],
        );
        if (Number(total) >= n) return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  type Row = { latency: number; encode: number; worker: number; submitted: Date; finished: Date };
  const rowsOf = async (runId: string, steps: [number, number]): Promise<Row[]> => {
    const rows: {
      latency: number;
      timings: Record<string, number>;
      submitted_at: Date;
      finished_at: Date;
    }[] = await db.query(
      `SELECT extract(epoch FROM finished_at - submitted_at)::float8 * 1000 AS latency, timings,
                submitted_at, finished_at
           FROM evaluation WHERE run_id = $1 AND step >= $2 AND step < $3`,
      [runId, steps[0], steps[1]],
    );
    return rows.map((r) => ({
      latency: r.latency,
      encode: r.timings.encode,
      worker: r.timings.total,
      submitted: r.submitted_at,
      finished: r.finished_at,
    }));
  };

  try {
    await writeSaeLensFolder(saeDir, syntheticSaeWeights(D_IN, D_SAE, 1), { architecture: 'jumprelu' });
    const sae = await post<{ id: string }>('POST', '/v1/saes', {
      name: 'bench',
      format: 'saelens',
      path: saeDir,
    });
    await post('PUT', `/v1/saes/${sae.id}/watchlist`, {
      latents: Array.from({ length: 16 }, (_, i) => ({
        index: (i * 7) % D_SAE,
        label: `latent ${i}`,
      })).filter((l, i, all) => all.findIndex((m) => m.index === l.index) === i),
      directions: [{ name: 'persona', vector: Array.from({ length: D_IN }, (_, i) => Math.sin(i + 1)) }],
    });
    const files = Array.from({ length: 8 }, (_, i) => activations(i + 1));
    const results = [];
    for (const workers of [1, 2]) {
      const run = await post<{ id: string }>('POST', '/v1/runs', {
        name: `bench-${workers}`,
        project: 'bench',
        model: 'synthetic',
        saeId: sae.id,
      });
      for (let w = 0; w < workers; w++) {
        children.push(
          spawn(process.execPath, [WORKER_MAIN], { env, stdio: ['ignore', 'inherit', 'inherit'] }),
        );
      }
      // Warm-up: every worker loads the SAE (and compiles its kernels) before anything is measured.
      let step = 0;
      for (let i = 0; i < workers * 3; i++) await upload(run.id, step++, files[step % files.length]);
      await waitDone(run.id, step);

      // One at a time: latency with an empty queue, and where the time goes.
      const seqStart = step;
      for (let i = 0; i < SEQUENTIAL; i++) {
        await upload(run.id, step++, files[step % files.length]);
        await waitDone(run.id, step);
      }
      const sequential = await rowsOf(run.id, [seqStart, step]);

      // A full queue: throughput.
      const loadStart = step;
      const t0 = Date.now();
      for (let i = 0; i < EVALS; i++) await upload(run.id, step++, files[step % files.length]);
      const uploadedMs = Date.now() - t0;
      await waitDone(run.id, step);
      const loaded = await rowsOf(run.id, [loadStart, step]);
      const first = Math.min(...loaded.map((r) => r.submitted.getTime()));
      const last = Math.max(...loaded.map((r) => r.finished.getTime()));

      for (const c of children.splice(0)) {
        c.kill('SIGTERM');
        await new Promise((r) => c.once('exit', r));
      }
      const sum = (rows: Row[], key: keyof Row) => rows.reduce((n, r) => n + (r[key] as number), 0);
      const seqLat = sequential.map((r) => r.latency).sort((a, b) => a - b);
      const loadLat = loaded.map((r) => r.latency).sort((a, b) => a - b);
      results.push({
        workers,
        evaluationsPerSecond: +(EVALS / ((last - first) / 1000)).toFixed(2),
        uploadMsEach: +(uploadedMs / EVALS).toFixed(1),
        sequential: {
          p50Ms: +quantile(seqLat, 0.5).toFixed(1),
          p99Ms: +quantile(seqLat, 0.99).toFixed(1),
          encodeMsMean: +(sum(sequential, 'encode') / sequential.length).toFixed(1),
          // Worker time around the kernel: download, parse, SAE lookup, result mapping, the transaction.
          workerOverheadShare: +(1 - sum(sequential, 'encode') / sum(sequential, 'worker')).toFixed(4),
          // Everything from the end of the upload to the commit that is not the kernel.
          endToEndOverheadShare: +(1 - sum(sequential, 'encode') / sum(sequential, 'latency')).toFixed(4),
        },
        underLoad: { p50Ms: +quantile(loadLat, 0.5).toFixed(1), p99Ms: +quantile(loadLat, 0.99).toFixed(1) },
      });
    }
    const [backend]: { backend: string; adapter: string }[] = await db.query(
      'SELECT backend, adapter FROM evaluation WHERE backend IS NOT NULL LIMIT 1',
    );
    console.log(
      JSON.stringify(
        {
          machine: { cpus: availableParallelism(), cpu: cpus()[0]?.model, node: process.version },
          engine: backend,
          sizes: { tokens: TOKENS, dIn: D_IN, dSae: D_SAE, evaluations: EVALS, sequential: SEQUENTIAL },
          gflopPerEvaluation: +((2 * TOKENS * D_IN * D_SAE) / 1e9).toFixed(3),
          results,
        },
        null,
        2,
      ),
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await api.close();
    await rm(saeDir, { recursive: true, force: true });
    await dropDatabase(config.databaseUrl).catch(() => undefined);
    await deleteNatsResources(config.natsUrl, config.natsPrefix).catch(() => undefined);
  }
}

await main();
process.exit(0);
