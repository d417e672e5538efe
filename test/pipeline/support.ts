import { type INestApplication } from '@nestjs/common';
import { createApiApp } from '../../apps/api/src/app.js';
import { createWorkerApp } from '../../apps/worker/src/app.js';
import { type SentinelConfig } from '../../libs/common/src/index.js';
import { writeSafetensors } from '../../libs/sae/src/index.js';

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
  timeoutMs = 20_000,
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
