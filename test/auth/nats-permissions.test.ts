// Least privilege in NATS: a nats-server of this test's own, configured with the checked-in
// docker/nats-accounts.conf (what docker compose runs, and what the Helm values hold: test/deploy checks
// both against libs/messaging/src/nats-permissions.ts), runs the API and a worker as processes under
// their own users. The whole path works without one permission violation in the server's log, and what
// either user does not need is refused by the server.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/nats-core';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig } from '../../libs/common/src/config/config.js';
import {
  NATS_ACCOUNT,
  NATS_USERS,
  natsConfText,
  natsInboxPrefix,
  natsNames,
} from '../../libs/messaging/src/index.js';
import { MAX_INLINE_VECTOR_LATENTS } from '../../apps/worker/src/evaluations/results.js';
import { activationsFile, type Api, createRun, registerSae, waitFor } from '../pipeline/support.js';
import { testConfig } from '../support/config.js';
import {
  API_MAIN,
  exited,
  freePort,
  httpOk,
  spawnNode,
  stopChild,
  until,
  WORKER_MAIN,
} from '../support/processes.js';

const PREFIX = 'sentinel'; // the prefix the deployed permissions are for; this server is ours alone
const names = natsNames(PREFIX);
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sentinel-nats-auth-'));
const serverLog = join(dir, 'nats-server.log');
// NATS parses a variable's value as a config value: a password must not read as a number.
const password = () => `p${randomBytes(18).toString('hex')}`;
const passwords = { api: password(), worker: password(), admin: password() };
const db = testConfig();

let port = 0;
let server: ChildProcess | undefined;
const apps: ChildProcess[] = [];
let apiUrl = '';
let workerUrl = '';

/** A file of the repository, found above this compiled test (dist/ or .build/<name>/). */
function repoFile(path: string): string {
  for (let d = here; d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, path)))
      return readFileSync(join(d, path), 'utf8');
  }
  throw new Error(`${path} not found above ${here}`);
}

async function startServer(env: Record<string, string>): Promise<void> {
  const conf = join(dir, 'nats-accounts.conf');
  // The file docker compose mounts, unchanged.
  const text = repoFile('docker/nats-accounts.conf');
  assert.equal(text, natsConfText(PREFIX), 'docker/nats-accounts.conf is not what nats-permissions.ts makes');
  writeFileSync(conf, text);
  if (!port) port = await freePort();
  const fd = openSync(serverLog, 'a');
  server = spawn(
    '/usr/sbin/nats-server',
    ['-c', conf, '-js', '-sd', join(dir, 'js'), '-a', '127.0.0.1', '-p', String(port)],
    { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] },
  );
  await until(
    `nats-server on ${port}`,
    async () => {
      if (server?.exitCode !== null)
        throw new Error(`nats-server exited: ${readFileSync(serverLog, 'utf8')}`);
      const nc = await as('admin', passwords.admin, { reconnect: false });
      await nc.close();
      return true;
    },
    20_000,
  );
}

function serverEnv(overrides: Partial<typeof passwords> = {}): Record<string, string> {
  const p = { ...passwords, ...overrides };
  return {
    [NATS_USERS.api.passwordVariable]: p.api,
    [NATS_USERS.worker.passwordVariable]: p.worker,
    [NATS_USERS.admin.passwordVariable]: p.admin,
  };
}

function as(
  role: keyof typeof NATS_USERS | 'anonymous',
  pass?: string,
  opts: { reconnect?: boolean } = {},
): Promise<NatsConnection> {
  const login =
    role === 'anonymous'
      ? {}
      : {
          user: NATS_USERS[role].user,
          pass: pass ?? passwords[role],
          inboxPrefix: natsInboxPrefix(NATS_USERS[role].user),
        };
  return connect({ servers: `nats://127.0.0.1:${port}`, timeout: 3_000, ...opts, ...login });
}

function appEnv(role: 'api' | 'worker', extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.databaseUrl,
    NATS_URL: `nats://127.0.0.1:${port}`,
    NATS_PREFIX: PREFIX,
    NATS_USER: NATS_USERS[role].user,
    NATS_PASSWORD: passwords[role],
    AUTH_REQUIRED: 'false',
    ENGINE_BACKEND: 'cpu',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

function violations(): string[] {
  return readFileSync(serverLog, 'utf8')
    .split('\n')
    .filter((l) => /Violation/.test(l));
}

const api: Api = {
  app: undefined as never,
  get url() {
    return apiUrl;
  },
  async json<T>(method: string, path: string, body?: unknown) {
    const res = await fetch(apiUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  },
  async upload(runId, step, bytes) {
    const res = await fetch(`${apiUrl}/v1/runs/${runId}/checkpoints/${step}/activations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    return { status: res.status, body: (await res.json()) as { evaluationId?: string } };
  },
};

before(async () => {
  await startServer(serverEnv());
  const [httpPort, grpcPort, workerPort] = [await freePort(), await freePort(), await freePort()];
  apiUrl = `http://127.0.0.1:${httpPort}`;
  workerUrl = `http://127.0.0.1:${workerPort}`;
  apps.push(
    spawnNode(
      API_MAIN,
      // Retention 0: the api user also deletes the uploads of finished evaluations.
      appEnv('api', {
        HTTP_PORT: String(httpPort),
        GRPC_PORT: String(grpcPort),
        ACTIVATIONS_RETENTION_HOURS: '0',
      }),
      join(dir, 'api.log'),
    ),
  );
  await until('api ready', () => httpOk(`${apiUrl}/readyz`), 60_000);
  apps.push(
    spawnNode(
      WORKER_MAIN,
      appEnv('worker', { WORKER_HTTP_PORT: String(workerPort) }),
      join(dir, 'worker.log'),
    ),
  );
  await until('worker ready', () => httpOk(`${workerUrl}/readyz`), 60_000);
});

after(async () => {
  await Promise.all(apps.map((c) => stopChild(c, 'SIGTERM', 15_000)));
  if (server) await stopChild(server, 'SIGTERM', 5_000);
  if (process.env.KEEP_NATS_AUTH_DIR) console.log(`logs in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

test('NATS_USER and NATS_PASSWORD: both or neither, no credentials in NATS_URL, the password in no error', () => {
  const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/sentinel' };
  const secret = 'p-do-not-print-me';
  const refused = (env: Record<string, string>, variable: string) => {
    assert.throws(
      () => loadConfig({ ...base, ...env }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.variable, variable);
        assert.ok(!err.message.includes(secret), err.message);
        return true;
      },
    );
  };
  refused({ NATS_USER: 'sentinel-api' }, 'NATS_PASSWORD');
  refused({ NATS_PASSWORD: secret }, 'NATS_USER');
  refused({ NATS_USER: 'a.b', NATS_PASSWORD: secret }, 'NATS_USER');
  refused({ NATS_URL: `nats://u:${secret}@nats:4222` }, 'NATS_URL');
  const c = loadConfig({ ...base, NATS_USER: 'sentinel-api', NATS_PASSWORD: secret });
  assert.equal(c.natsUser, 'sentinel-api');
  assert.equal(c.natsPassword, secret);
  const none = loadConfig(base);
  assert.equal(none.natsUser, undefined);
  assert.equal(none.natsPassword, undefined);
});

test('the whole path runs as the api and worker NATS users without a permission violation', async () => {
  const wideEvaluations: string[] = [];
  const evaluations: string[] = [];
  // A small SAE, and one wide enough that the worker stores its result vectors in the object store
  // and reads megabytes of weights (flow-controlled) from the SAE bucket.
  for (const [dIn, dSae, seed] of [
    [16, 64, 11],
    [8, 262_208, 12],
  ] as const) {
    const sae = await registerSae(api, dIn, dSae, seed);
    const runId = await createRun(api, sae, { latents: [1, 2], directions: 1 });
    for (const step of [0, 1]) {
      const bytes = activationsFile(24, dIn, 100 + step, { nPrompts: 3 });
      const res = await api.upload(runId, step, bytes);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      // The same bytes again: the API deletes (purges) its second copy and answers with the first.
      const again = await api.upload(runId, step, bytes);
      assert.ok([200, 202].includes(again.status), JSON.stringify(again.body));
      const id = res.body.evaluationId!;
      const done = await waitFor(
        `evaluation ${dSae}/${step}`,
        async () => {
          const e = await api.json<{ status: string; error?: string }>('GET', `/v1/evaluations/${id}`);
          return e.body.status === 'done' || e.body.status === 'failed' ? e.body : undefined;
        },
        120_000,
      );
      assert.equal(done.status, 'done', done.error);
      if (dSae > MAX_INLINE_VECTOR_LATENTS) wideEvaluations.push(id);
      evaluations.push(id);
    }
  }
  // The API's retention pass deleted every upload (the result vectors below are kept).
  for (const id of evaluations) {
    await waitFor(`activations of ${id} deleted`, async () => {
      const e = await api.json<{ activationsDeletedAt: string | null }>('GET', `/v1/evaluations/${id}`);
      return e.body.activationsDeletedAt ?? undefined;
    });
  }
  // The worker wrote the wide SAE's result vectors to the activations bucket.
  const admin = await as('admin');
  try {
    const bucket = await new Objm(admin).open(names.activationsBucket);
    for (const id of wideEvaluations) {
      assert.ok(await bucket.info(`evaluations/${id}/vectors.f32le`), `vectors of ${id}`);
    }
    assert.equal(wideEvaluations.length, 2);
  } finally {
    await admin.close();
  }
  // The queue depth (consumer info) is read when /metrics is scraped.
  const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
  assert.match(metrics, /sentinel_queue_depth\{state="pending"\} 0/);
  assert.deepEqual(violations(), [], 'a subject the apps use is not granted');
  const apiLog = readFileSync(join(dir, 'api.log'), 'utf8');
  const workerLog = readFileSync(join(dir, 'worker.log'), 'utf8');
  assert.doesNotMatch(apiLog + workerLog, /Permissions Violation/);
});

test('no anonymous connection, no wrong password', async () => {
  await assert.rejects(as('anonymous', undefined, { reconnect: false }), /Authorization Violation/);
  await assert.rejects(as('worker', passwords.api, { reconnect: false }), /Authorization Violation/);
  await assert.rejects(as('api', 'pwrong', { reconnect: false }), /Authorization Violation/);
});

const DENIED = /Permissions Violation/;

test('the worker user cannot delete or purge the jobs stream or a bucket, publish a job, or write an SAE', async () => {
  const nc = await as('worker');
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    // What it needs works.
    assert.equal((await jsm.streams.info(names.jobsStream)).config.name, names.jobsStream);
    assert.equal(
      (await jsm.consumers.info(names.jobsStream, names.workersConsumer)).name,
      names.workersConsumer,
    );
    await assert.rejects(jsm.streams.delete(names.jobsStream), DENIED);
    await assert.rejects(jsm.streams.purge(names.jobsStream), DENIED);
    await assert.rejects(jsm.streams.deleteMessage(names.jobsStream, 1), DENIED);
    await assert.rejects(
      jsm.streams.update(names.jobsStream, { subjects: [`${names.jobsSubject}.*`], max_msgs: 1 }),
      DENIED,
    );
    await assert.rejects(jsm.consumers.delete(names.jobsStream, names.workersConsumer), DENIED);
    await assert.rejects(jsm.streams.getMessage(names.jobsStream, { seq: 1 }), DENIED);
    await assert.rejects(js.publish(`${names.jobsSubject}.forged`, '{"evaluationId":"x"}'), DENIED);
    for (const bucket of [names.activationsBucket, names.saesBucket]) {
      await assert.rejects(jsm.streams.delete(`OBJ_${bucket}`), DENIED);
      await assert.rejects(jsm.streams.purge(`OBJ_${bucket}`), DENIED);
    }
    await assert.rejects(js.publish(`$O.${names.saesBucket}.M.forged`, '{}'), DENIED);
    await assert.rejects(jsm.streams.add({ name: 'INTRUDER', subjects: ['intruder.>'] }), DENIED);
    await assert.rejects(nc.request('$JS.API.STREAM.LIST', '{}'), DENIED);
    // Another user's replies.
    const sub = nc.subscribe(`${natsInboxPrefix(NATS_USERS.api.user)}.>`);
    await assert.rejects(
      (async () => {
        for await (const m of sub) void m;
      })(),
      /Permissions Violation for Subscription/,
    );
  } finally {
    await nc.close();
  }
});

test('the api user cannot pull from or acknowledge on the work consumer, nor delete the stream', async () => {
  const nc = await as('api');
  try {
    const jsm = await jetstreamManager(nc);
    const s = names.jobsStream;
    const c = names.workersConsumer;
    // The sweeper's question (is the job of an evaluation still in the stream?) is allowed.
    assert.equal(await jsm.streams.getMessage(s, { last_by_subj: `${names.jobsSubject}.none` }), null);
    await assert.rejects(
      nc.request(`$JS.API.CONSUMER.MSG.NEXT.${s}.${c}`, JSON.stringify({ batch: 1, no_wait: true })),
      DENIED,
    );
    await assert.rejects(nc.request(`$JS.ACK.${s}.${c}.1.1.1.1.0`, '+ACK'), DENIED);
    await assert.rejects(jsm.streams.delete(s), DENIED);
    await assert.rejects(jsm.streams.purge(s), DENIED);
    await assert.rejects(jsm.consumers.delete(s, c), DENIED);
    await assert.rejects(
      jsm.consumers.add(s, { durable_name: 'thief', ack_policy: 'explicit' as never }),
      DENIED,
    );
    const sub = nc.subscribe(`${natsInboxPrefix(NATS_USERS.worker.user)}.>`);
    await assert.rejects(
      (async () => {
        for await (const m of sub) void m;
      })(),
      /Permissions Violation for Subscription/,
    );
    // The admin user has the account (operators' clean-ups), in the account KEDA's trigger names.
    const admin = await as('admin');
    try {
      const info = await (await jetstreamManager(admin)).getAccountInfo();
      assert.ok(info.streams >= 3, `${NATS_ACCOUNT} holds the jobs stream and the buckets`);
    } finally {
      await admin.close();
    }
  } finally {
    await nc.close();
  }
});

test('an app whose NATS login is refused stops at start with an error that names NATS authorization', async () => {
  for (const [role, extra, who] of [
    [
      'worker',
      { NATS_PASSWORD: 'pwrong-password-123' },
      /refused the login of NATS_USER \\?"sentinel-worker/,
    ],
    ['api', { NATS_USER: '', NATS_PASSWORD: '' }, /refused a connection without credentials/],
  ] as const) {
    const log = join(dir, `refused-${role}.log`);
    const child = spawnNode(
      role === 'api' ? API_MAIN : WORKER_MAIN,
      appEnv(role, { HTTP_PORT: '0', GRPC_PORT: '0', WORKER_HTTP_PORT: '0', ...extra }),
      log,
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited(child);
    clearTimeout(timer);
    assert.notEqual(child.exitCode, 0, `${role} exited ${child.exitCode} (${child.signalCode})`);
    const text = readFileSync(log, 'utf8');
    assert.match(text, /NATS authorization failed/, text);
    assert.match(text, who);
    assert.ok(!text.includes('pwrong-password-123'), 'the password is in the output');
  }
});

test('a login refused on reconnect makes the app not ready, and says why', async () => {
  // The server comes back with another password for the worker (a rotation the worker has not seen).
  await stopChild(server!, 'SIGTERM', 5_000);
  await startServer(serverEnv({ worker: password() }));
  const body = await waitFor(
    'worker /readyz to report the refused login',
    async () => {
      const res = await fetch(`${workerUrl}/readyz`);
      const text = await res.text();
      return res.status === 503 && /authorization/i.test(text) ? text : undefined;
    },
    30_000,
    250,
  );
  assert.match(body, /NATS authorization failed on reconnect/);
  // The API's login is still valid: it reconnects and is ready again.
  await until('api ready again', () => httpOk(`${apiUrl}/readyz`), 30_000);
});
