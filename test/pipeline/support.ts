import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type INestApplication } from '@nestjs/common';
import { createApiApp } from '../../apps/api/src/app.js';
import { createWorkerApp } from '../../apps/worker/src/app.js';
import { type SentinelConfig } from '../../libs/common/src/index.js';
import { syntheticSaeWeights, writeSaeLensFolder, writeSafetensors } from '../../libs/sae/src/index.js';

/** Deterministic pseudo-random numbers in [-1, 1) (tests must not depend on Math.random). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/** An activations safetensors file: `activations` [nTokens, dIn] plus prompt offsets over nPrompts prompts. */
export function activationsFile(
  nTokens: number,
  dIn: number,
  seed: number,
  opts: { nPrompts?: number; dtype?: 'F32' | 'F16' | 'BF16'; poison?: { at: number; value: number } } = {},
): Buffer {
  const rand = lcg(seed);
  const data = Float32Array.from({ length: nTokens * dIn }, () => rand() * 2);
  if (opts.poison) data[opts.poison.at] = opts.poison.value;
  const nPrompts = opts.nPrompts ?? 4;
  const offsets = Array.from({ length: nPrompts + 1 }, (_, p) => Math.round((p * nTokens) / nPrompts));
  return writeSafetensors({
    activations: { dtype: opts.dtype ?? 'F32', shape: [nTokens, dIn], data },
    prompt_offsets: { dtype: 'I32', shape: [nPrompts + 1], data: offsets },
  });
}

export interface Api {
  app: INestApplication;
  url: string;
  json<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  upload(
    runId: string,
    step: number,
    bytes: Uint8Array,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: { evaluationId?: string; status?: string; message?: string } }>;
}

export async function startApi(config: SentinelConfig): Promise<Api> {
  const app = await createApiApp(config, false);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const json = async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const upload = async (
    runId: string,
    step: number,
    bytes: Uint8Array,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${url}/v1/runs/${runId}/checkpoints/${step}/activations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body: bytes,
    });
    return {
      status: res.status,
      body: (await res.json()) as { evaluationId?: string; status?: string; message?: string },
    };
  };
  return { app, url, json, upload };
}

export async function startWorker(config: SentinelConfig): Promise<INestApplication> {
  const app = await createWorkerApp(config, false);
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  // Generous: the machine running the tests may be shared and slow; a pass never waits this long.
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Registers an SAELens-format SAE (written to a temp folder) through POST /v1/saes; returns its row. */
export async function registerSae(
  api: Api,
  dIn: number,
  dSae: number,
  seed: number,
  architecture: 'standard' | 'jumprelu' = 'jumprelu',
): Promise<{ id: string; dir: string; dIn: number; dSae: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-test-sae-'));
  await writeSaeLensFolder(dir, syntheticSaeWeights(dIn, dSae, seed), { architecture });
  const res = await api.json<{ id: string; dIn: number; dSae: number; message?: string }>(
    'POST',
    '/v1/saes',
    {
      name: `sae-${seed}-${randomUUID()}`,
      format: 'saelens',
      path: dir,
    },
  );
  if (res.status !== 201)
    throw new Error(`SAE registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, dir };
}

/** A run on the SAE, with a watchlist of a few latents and one direction. */
export async function createRun(
  api: Api,
  sae: { id: string; dIn: number; dSae: number },
  watch: { latents: number[]; directions: number } = { latents: [1, 5, 9], directions: 1 },
): Promise<string> {
  const rand = lcg(42);
  const w = await api.json('PUT', `/v1/saes/${sae.id}/watchlist`, {
    latents: watch.latents.map((index) => ({ index, label: `latent ${index}` })),
    directions: Array.from({ length: watch.directions }, (_, i) => ({
      name: `direction-${i}`,
      vector: Array.from({ length: sae.dIn }, rand),
    })),
  });
  if (w.status !== 200) throw new Error(`watchlist failed: ${w.status} ${JSON.stringify(w.body)}`);
  const run = await api.json<{ id: string }>('POST', '/v1/runs', {
    name: `run-${randomUUID()}`,
    project: 'pipeline-tests',
    model: 'tiny',
    saeId: sae.id,
  });
  if (run.status !== 201) throw new Error(`run failed: ${run.status} ${JSON.stringify(run.body)}`);
  return run.body.id;
}

/** The built worker entry point, next to this compiled file. */
const WORKER_MAIN = fileURLToPath(new URL('../../apps/worker/src/main.js', import.meta.url));

/** A worker in a process of its own (for SIGKILL, SIGTERM and multi-process tests), on `config`'s queue. */
export function spawnWorker(config: SentinelConfig, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', WORKER_MAIN], {
    env: {
      ...process.env,
      DATABASE_URL: config.databaseUrl,
      NATS_URL: config.natsUrl,
      NATS_PREFIX: config.natsPrefix,
      WORKER_HTTP_PORT: '0',
      ENGINE_BACKEND: config.engineBackend,
      ACK_WAIT_MS: String(config.ackWaitMs),
      STALE_RUNNING_MS: String(config.staleRunningMs),
      MAX_DELIVER: String(config.maxDeliver),
      WORKER_CONCURRENCY: String(config.workerConcurrency),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The worker id a process with this pid writes into evaluation.worker_id. */
export function workerIdOf(pid: number): string {
  return `${hostname()}:${pid}`;
}
