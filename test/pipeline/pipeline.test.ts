import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MAX_INLINE_VECTOR_LATENTS, topByMean } from '../../apps/worker/src/evaluations/results.js';
import { WorkQueueService } from '../../libs/messaging/src/index.js';
import { createEngine, type EncodeBackend, loadSae, parseActivations } from '../../libs/sae/src/index.js';
import { testConfig } from '../support/config.js';
import {
  activationsFile,
  type Api,
  createRun,
  registerSae,
  startApi,
  startWorker,
  waitFor,
} from './support.js';

// The whole path in one process: REST upload → object store → JetStream → worker → Postgres, and what
// lands in Postgres equals what the engine computes from the same files directly.
const config = testConfig({ ENGINE_BACKEND: 'cpu' });
let api: Api;
let worker: INestApplication;
let engine: EncodeBackend;

before(async () => {
  api = await startApi(config);
  worker = await startWorker(config);
  engine = await createEngine({ backend: 'cpu' });
});

after(async () => {
  await worker.close();
  await api.app.close();
  await engine.dispose();
});

interface EvaluationView {
  id: string;
  status: string;
  error?: string;
  backend: string;
  adapter: string;
  timings: Record<string, number>;
  nPrompts: number;
  latents: {
    index: number;
    label: string;
    mean: number;
    fracActive: number;
    max: number;
    promptMeans: number[];
  }[];
  directions: { name: string; mean: number; promptMeans: number[] }[];
  top: { index: number; mean: number }[];
}

async function waitDone(id: string): Promise<EvaluationView> {
  return waitFor(`evaluation ${id} to finish`, async () => {
    const res = await api.json<EvaluationView>('GET', `/v1/evaluations/${id}`);
    return res.body.status === 'done' || res.body.status === 'failed' ? res.body : undefined;
  });
}

test('upload → worker → results in Postgres equal the engine output for the same files', async () => {
  const sae = await registerSae(api, 32, 128, 7);
  assert.equal(sae.dIn, 32);
  assert.equal(sae.dSae, 128);
  const runId = await createRun(api, sae, { latents: [0, 17, 127], directions: 2 });
  const bytes = activationsFile(96, 32, 11, { nPrompts: 6 });
  const submitted = await api.upload(runId, 100, bytes);
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const view = await waitDone(submitted.body.evaluationId!);
  assert.equal(view.status, 'done', view.error);

  // The same computation, straight from the files.
  const watch = await api.json<{ directions: { name: string; vector: number[] }[] }>(
    'GET',
    `/v1/saes/${sae.id}/watchlist`,
  );
  const direct = await engine.encode(await loadSae(sae.dir), parseActivations(bytes, 'direct'), {
    directions: watch.body.directions.map((d) => ({ name: d.name, vector: Float32Array.from(d.vector) })),
  });
  assert.equal(view.backend, 'cpu');
  assert.equal(view.adapter, direct.adapter);
  assert.equal(view.nPrompts, 6);
  assert.deepEqual(
    view.latents.map((l) => l.index),
    [0, 17, 127],
  );
  for (const l of view.latents) {
    assert.equal(l.label, `latent ${l.index}`);
    assert.equal(l.mean, direct.mean[l.index], `mean of latent ${l.index}`);
    assert.equal(l.fracActive, direct.fracActive[l.index]);
    assert.equal(l.max, direct.max[l.index]);
    assert.deepEqual(
      l.promptMeans,
      Array.from({ length: 6 }, (_, p) => direct.promptMean![p * 128 + l.index]),
    );
  }
  assert.deepEqual(
    view.directions,
    direct.directions.map((d) => ({ name: d.name, mean: d.mean, promptMeans: Array.from(d.promptMeans) })),
  );
  assert.deepEqual(view.top, topByMean(direct.mean, 20));
  assert.equal(view.top.length, 20);
  assert.ok(view.timings.encode > 0 && view.timings.download >= 0, JSON.stringify(view.timings));

  // The full vectors, for model diffing: f32le bytea, bit-for-bit the engine's.
  const db = api.app.get(DataSource);
  const [vectors]: { d_sae: number; mean: Buffer; frac_active: Buffer; object_key: string | null }[] =
    await db.query(
      'SELECT d_sae, mean, frac_active, object_key FROM evaluation_vectors WHERE evaluation_id = $1',
      [view.id],
    );
  assert.equal(vectors.d_sae, 128);
  assert.equal(vectors.object_key, null);
  assert.ok(
    vectors.mean.equals(Buffer.from(direct.mean.buffer, direct.mean.byteOffset, direct.mean.byteLength)),
  );
  assert.ok(
    vectors.frac_active.equals(
      Buffer.from(direct.fracActive.buffer, direct.fracActive.byteOffset, direct.fracActive.byteLength),
    ),
  );

  // Uploading the same checkpoint again changes nothing.
  const again = await api.upload(runId, 100, bytes);
  assert.deepEqual(again.body, { evaluationId: view.id, status: 'done' });

  // The run's list carries what the dashboard's table shows, equal to the evaluation's own record.
  const listed = await api.json<Record<string, unknown>[]>('GET', `/v1/runs/${runId}/evaluations`);
  const pick = (e: Record<string, unknown>) =>
    ['id', 'step', 'status', 'backend', 'adapter', 'timings', 'attempts', 'startedAt', 'finishedAt'].map(
      (k) => e[k],
    );
  assert.deepEqual(listed.body.map(pick), [pick(view as unknown as Record<string, unknown>)]);
  assert.ok(listed.body[0].timings && listed.body[0].backend);
});

test('an SAE wider than the inline limit keeps its full vectors in the object store', async () => {
  const dSae = MAX_INLINE_VECTOR_LATENTS + 64;
  const sae = await registerSae(api, 4, dSae, 13, 'standard');
  const runId = await createRun(api, sae, { latents: [0, dSae - 1], directions: 0 });
  const bytes = activationsFile(16, 4, 17, { nPrompts: 2 });
  const submitted = await api.upload(runId, 1, bytes);
  const view = await waitDone(submitted.body.evaluationId!);
  assert.equal(view.status, 'done', view.error);
  const direct = await engine.encode(await loadSae(sae.dir), parseActivations(bytes, 'direct'));
  const db = api.app.get(DataSource);
  const [vectors]: { d_sae: number; mean: Buffer | null; object_key: string | null }[] = await db.query(
    'SELECT d_sae, mean, object_key FROM evaluation_vectors WHERE evaluation_id = $1',
    [view.id],
  );
  assert.equal(vectors.d_sae, dSae);
  assert.equal(vectors.mean, null);
  assert.equal(vectors.object_key, `evaluations/${view.id}/vectors.f32le`);
  const stored = await api.app.get(WorkQueueService).activations.getBlob(vectors.object_key!);
  const expected = Buffer.concat([
    Buffer.from(direct.mean.buffer, direct.mean.byteOffset, direct.mean.byteLength),
    Buffer.from(direct.fracActive.buffer, direct.fracActive.byteOffset, direct.fracActive.byteLength),
  ]);
  assert.ok(
    stored && Buffer.from(stored).equals(expected),
    'mean then frac_active, f32le, as the engine computed',
  );
  assert.deepEqual(view.top, topByMean(direct.mean, 20));
});

test('an SAE sent as multipart is registered like one read from a path', async () => {
  const { dir } = await registerSae(api, 16, 64, 3, 'standard');
  const form = new FormData();
  form.set('name', `multipart-${Date.now()}`);
  form.set('format', 'saelens');
  for (const name of ['cfg.json', 'sae_weights.safetensors']) {
    form.append('files', new Blob([await readFile(join(dir, name))]), name);
  }
  const res = await fetch(`${api.url}/v1/saes`, { method: 'POST', body: form });
  const body = (await res.json()) as { id: string; architecture: string; dIn: number; dSae: number };
  assert.equal(res.status, 201, JSON.stringify(body));
  assert.deepEqual([body.architecture, body.dIn, body.dSae], ['standard', 16, 64]);
  const got = await api.json<{ id: string }>('GET', `/v1/saes/${body.id}`);
  assert.equal(got.body.id, body.id);
});

test('SAE registration and watchlist errors say what to fix', async () => {
  const missing = await api.json<{ message: string }>('POST', '/v1/saes', {
    name: 'nowhere',
    format: 'saelens',
    path: '/nonexistent/sae',
  });
  assert.equal(missing.status, 400);
  assert.match(missing.body.message, /\/nonexistent\/sae cannot be read by the API server \(ENOENT\)/);
  const badFormat = await api.json<{ message: string }>('POST', '/v1/saes', {
    name: 'x',
    format: 'onnx',
    path: '/tmp',
  });
  assert.equal(badFormat.status, 400);
  assert.match(badFormat.body.message, /format must be one of saelens, gemma-scope, sparsify/);
  const notSae = await api.json<{ message: string }>('POST', '/v1/saes', {
    name: `not-an-sae-${Date.now()}`,
    format: 'saelens',
    path: new URL('.', import.meta.url).pathname,
  });
  assert.equal(notSae.status, 422, JSON.stringify(notSae.body));
  assert.match(notSae.body.message, /not a valid saelens SAE/);

  const sae = await registerSae(api, 16, 64, 5);
  const outOfRange = await api.json<{ message: string }>('PUT', `/v1/saes/${sae.id}/watchlist`, {
    latents: [{ index: 64, label: 'too far' }],
    directions: [],
  });
  assert.equal(outOfRange.status, 400);
  assert.match(outOfRange.body.message, /latents\[0\]\.index 64 is out of range: this SAE has d_sae 64/);
  const shortVector = await api.json<{ message: string }>('PUT', `/v1/saes/${sae.id}/watchlist`, {
    latents: [],
    directions: [{ name: 'evil', vector: [1, 2, 3] }],
  });
  assert.equal(shortVector.status, 400);
  assert.match(
    shortVector.body.message,
    /directions\[0\] \("evil"\)\.vector has 3 numbers, expected d_in 16/,
  );
});

test('OpenAPI at /docs describes the pipeline endpoints', async () => {
  const doc = (await (await fetch(`${api.url}/docs/openapi.json`)).json()) as {
    paths: Record<string, object>;
    components: { schemas: Record<string, { properties: Record<string, object>; required?: string[] }> };
  };
  for (const path of [
    '/v1/saes',
    '/v1/saes/{id}',
    '/v1/saes/{id}/watchlist',
    '/v1/runs',
    '/v1/runs/{id}',
    '/v1/runs/{runId}/checkpoints/{step}/activations',
    '/v1/evaluations/{id}',
    '/v1/runs/{id}/evaluations',
  ]) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
  // The run's evaluation list: the evaluation's own fields, without its results.
  const row = doc.components.schemas.RunEvaluationDto;
  assert.deepEqual(Object.keys(row.properties).sort(), [
    'activationsDeletedAt',
    'adapter',
    'attempts',
    'backend',
    'error',
    'finishedAt',
    'id',
    'startedAt',
    'status',
    'step',
    'submittedAt',
    'timings',
  ]);
});

test('/metrics on the API and the worker', async () => {
  const apiMetrics = await (await fetch(`${api.url}/metrics`)).text();
  assert.match(apiMetrics, /sentinel_queue_depth\{state="pending"\} \d+/);
  assert.match(apiMetrics, /sentinel_evaluations\{status="done"\} [1-9]/);
  const workerUrl = (await worker.getUrl()).replace('[::1]', '127.0.0.1');
  const workerMetrics = await (await fetch(`${workerUrl}/metrics`)).text();
  assert.match(workerMetrics, /sentinel_submit_to_done_seconds_count [1-9]/);
  assert.match(workerMetrics, /sentinel_encode_gflops\{backend="cpu"\} [\d.e+-]+/);
  const ready = await fetch(`${workerUrl}/readyz`);
  assert.equal(ready.status, 200);
});
