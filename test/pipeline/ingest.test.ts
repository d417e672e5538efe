import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DataSource } from 'typeorm';
import { WorkQueueService } from '../../libs/messaging/src/index.js';
import { writeSafetensors } from '../../libs/sae/src/index.js';
import { testConfig } from '../support/config.js';
import { activationsFile, type Api, startApi } from './support.js';

// The API alone (no worker): uploads are validated while they stream, and a refused upload leaves no
// evaluation row and no object behind.
const D_IN = 16;
const config = testConfig({ UPLOAD_LIMIT_BYTES: String(64 * 1024) });
let api: Api;
let db: DataSource;
let queue: WorkQueueService;
let runId: string;
let saeId: string;

before(async () => {
  api = await startApi(config);
  db = api.app.get(DataSource);
  queue = api.app.get(WorkQueueService);
  saeId = randomUUID();
  // Registered straight into Postgres: this file tests uploads, not SAE loading (see saes.test.ts).
  await db.query(
    `INSERT INTO sae (id, name, format, architecture, d_in, d_sae, dtype, object_key, size_bytes, sha256)
     VALUES ($1, $2, 'saelens', 'standard', $3, 64, 'F32', 'none', 0, 'none')`,
    [saeId, `ingest-${saeId}`, D_IN],
  );
  const run = await api.json<{ id: string }>('POST', '/v1/runs', {
    name: 'ingest',
    project: 'pipeline-tests',
    model: 'tiny',
    saeId,
  });
  assert.equal(run.status, 201, JSON.stringify(run.body));
  runId = run.body.id;
});

after(async () => {
  await api.app.close();
});

async function evaluationRows(): Promise<{ id: string; step: number }[]> {
  return db.query('SELECT id, step FROM evaluation WHERE run_id = $1 ORDER BY step', [runId]);
}

async function objectNames(): Promise<string[]> {
  const list = await queue.activations.list();
  return list.filter((o) => !o.deleted).map((o) => o.name);
}

describe('bad uploads are refused with a message, leaving nothing behind', () => {
  const cases: [string, () => Buffer, number, RegExp, Record<string, string>?][] = [
    [
      'not safetensors',
      () => Buffer.from('hello, this is not a tensor file at all'.repeat(4)),
      400,
      /safetensors|header/,
    ],
    ['truncated', () => activationsFile(32, D_IN, 1).subarray(0, 1000), 400, /Content-Length|truncated/],
    ['wrong d_in', () => activationsFile(32, D_IN * 2, 2), 422, /d_in 32 .*d_in 16/],
    [
      'NaN',
      () => activationsFile(32, D_IN, 3, { poison: { at: 5 * D_IN + 3, value: NaN } }),
      400,
      /NaN at token 5 \(element \[5, 3\]\)/,
    ],
    [
      'Inf in F16',
      () => activationsFile(32, D_IN, 4, { dtype: 'F16', poison: { at: 7 * D_IN, value: Infinity } }),
      400,
      /Infinity at token 7/,
    ],
    ['over the limit', () => activationsFile(2048, D_IN, 5), 413, /limit of 65536 bytes/],
  ];
  for (const [name, make, status, message, headers] of cases) {
    test(name, async () => {
      const res = await api.upload(runId, 1, make(), headers);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(res.body.message ?? '', message);
      assert.deepEqual(await evaluationRows(), []);
      assert.deepEqual(await objectNames(), []);
    });
  }

  test('truncated body without Content-Length (chunked)', async () => {
    const bytes = activationsFile(32, D_IN, 6).subarray(0, 1500);
    const res = await fetch(`${api.url}/v1/runs/${runId}/checkpoints/1/activations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: new ReadableStream({
        start(c) {
          c.enqueue(bytes);
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    const body = (await res.json()) as { message: string };
    assert.equal(res.status, 400);
    assert.match(body.message, /truncated, 1500 bytes received/);
    assert.deepEqual(await evaluationRows(), []);
    assert.deepEqual(await objectNames(), []);
  });

  test('a NaN far into the body, split across chunks, with no Content-Length', async () => {
    const n = 600;
    const bytes = activationsFile(n, D_IN, 7, { poison: { at: 590 * D_IN + 15, value: NaN } });
    const res = await fetch(`${api.url}/v1/runs/${runId}/checkpoints/1/activations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: new ReadableStream({
        start(c) {
          // 7-byte pieces: every float straddles a chunk boundary somewhere.
          for (let i = 0; i < bytes.length; i += 7001) c.enqueue(bytes.subarray(i, i + 7001));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    const body = (await res.json()) as { message: string };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(body.message, /NaN at token 590 \(element \[590, 15\]\)/);
    assert.deepEqual(await objectNames(), []);
  });

  test('prompt offsets that do not end at n_tokens', async () => {
    const bytes = writeSafetensors({
      activations: { dtype: 'F32', shape: [8, D_IN], data: new Float32Array(8 * D_IN) },
      prompt_offsets: { dtype: 'I64', shape: [3], data: [0, 4, 7] },
    });
    const res = await api.upload(runId, 1, bytes);
    assert.equal(res.status, 400);
    assert.match(res.body.message ?? '', /prompt_offsets.*ending at 8/);
    assert.deepEqual(await objectNames(), []);
  });

  test('unknown run, bad step, wrong content type', async () => {
    const bytes = activationsFile(8, D_IN, 8);
    const unknown = await api.upload(randomUUID(), 1, bytes);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message ?? '', /run .* not found/);
    const step = await fetch(`${api.url}/v1/runs/${runId}/checkpoints/abc/activations`, {
      method: 'PUT',
      body: bytes,
    });
    assert.equal(step.status, 400);
    assert.match(((await step.json()) as { message: string }).message, /step must be a non-negative integer/);
    const type = await api.upload(runId, 1, bytes, { 'content-type': 'text/plain' });
    assert.equal(type.status, 415);
    assert.match(type.body.message ?? '', /Content-Type must be application\/octet-stream/);
    assert.deepEqual(await evaluationRows(), []);
    assert.deepEqual(await objectNames(), []);
  });
});

test('the same checkpoint with the same bytes is the same evaluation; other bytes are a 409', async () => {
  const bytes = activationsFile(64, D_IN, 9);
  const first = await api.upload(runId, 10, bytes);
  assert.equal(first.status, 202, JSON.stringify(first.body));
  assert.equal(first.body.status, 'queued');
  const again = await api.upload(runId, 10, bytes);
  assert.equal(again.status, 202);
  assert.equal(again.body.evaluationId, first.body.evaluationId);
  const other = await api.upload(runId, 10, activationsFile(64, D_IN, 10));
  assert.equal(other.status, 409);
  assert.match(other.body.message ?? '', /already has evaluation .* different activations/);

  const rows: {
    object_key: string;
    size_bytes: string;
    n_tokens: number;
    n_prompts: number;
    published_at: Date;
  }[] = await db.query(
    'SELECT object_key, size_bytes, n_tokens, n_prompts, published_at FROM evaluation WHERE id = $1',
    [first.body.evaluationId],
  );
  assert.equal(rows.length, 1);
  assert.equal(Number(rows[0].size_bytes), bytes.length);
  assert.equal(rows[0].n_tokens, 64);
  assert.equal(rows[0].n_prompts, 4);
  assert.ok(rows[0].published_at, 'published after the insert');
  assert.deepEqual(await objectNames(), [rows[0].object_key], 'only the first upload is stored');
  const stored = await queue.activations.getBlob(rows[0].object_key);
  assert.ok(stored && Buffer.from(stored).equals(bytes), 'the stored bytes are the uploaded bytes');
  assert.equal(await queue.hasPendingJob(first.body.evaluationId!), true, 'its job is in the stream');

  const view = await api.json<{ status: string; step: number; latents: unknown[] }>(
    'GET',
    `/v1/evaluations/${first.body.evaluationId}`,
  );
  assert.equal(view.status, 200);
  assert.equal(view.body.status, 'queued');
  assert.equal(view.body.step, 10);
});

test('JSON errors name what is wrong', async () => {
  const missing = await api.json<{ statusCode: number; error: string; message: string }>('POST', '/v1/runs', {
    name: 'x',
    project: 'p',
    saeId: 'nope',
    extra: 1,
  });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error, 'Bad Request');
  assert.match(missing.body.message, /model must be a string/);
  assert.match(missing.body.message, /saeId must be a UUID/);
  assert.match(missing.body.message, /property extra should not exist/);
  const noSae = await api.json<{ message: string }>('POST', '/v1/runs', {
    name: 'x',
    project: 'p',
    model: 'm',
    saeId: randomUUID(),
  });
  assert.equal(noSae.status, 422);
  assert.match(noSae.body.message, /not a registered SAE/);
  const broken = await fetch(`${api.url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"name": ',
  });
  assert.equal(broken.status, 400);
  assert.equal(broken.headers.get('content-type')?.startsWith('application/json'), true);
  const notFound = await api.json<{ message: string }>('GET', `/v1/evaluations/${randomUUID()}`);
  assert.equal(notFound.status, 404);
  assert.match(notFound.body.message, /evaluation .* not found/);
});
