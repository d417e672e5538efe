// API keys end to end: every REST route and gRPC method is listed in the access policy, needs a key, and
// a key for project B can neither read nor write project A — checked route by route on a real API with
// real Postgres. Also: the `sentinel keys create` CLI, roles, org-wide admin keys, rate limits, headers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { GRPC_POLICY, HTTP_POLICY } from '../../apps/api/src/auth/access-policy.js';
import { createApiApp } from '../../apps/api/src/app.js';
import { connectGrpc, PROTO_LOADER_OPTIONS, protoFiles } from '../../apps/api/src/grpc.js';
import { createApiKey } from '../../libs/auth/src/index.js';
import { EarlyWarningService } from '../../libs/early-warning/src/index.js';
import { testConfig } from '../support/config.js';
import { freePort } from '../support/processes.js';
import { seedEvaluation, seedRun, seedSae } from '../early-warning/seed.js';

const run = promisify(execFile);
const config = testConfig({ AUTH_REQUIRED: 'true', RATE_LIMIT_PER_MINUTE: '0' });
let app: INestApplication;
let ds: DataSource;
let base: string;
let grpcPort: number;
const keys: Record<'adminAll' | 'aWrite' | 'aRead' | 'bWrite' | 'bAdmin', string> = {} as never;
const A = `proj-a-${process.pid}`;
const B = `proj-b-${process.pid}`;
const ids: { sae: string; runA: string; runB: string; evalA: string; alertA: string; webhookA: string } =
  {} as never;

async function call(method: string, path: string, key?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  // The alert stream never ends: read the status and headers only.
  const ctrl = new AbortController();
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: ctrl.signal,
  });
  const text = res.headers.get('content-type')?.includes('text/event-stream') ? '' : await res.text();
  ctrl.abort();
  return { status: res.status, text, headers: res.headers };
}

before(async () => {
  app = await createApiApp(config, false);
  grpcPort = await freePort();
  connectGrpc(app, config, grpcPort);
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  ds = app.get(DataSource);

  keys.adminAll = (await createApiKey(ds, { project: '*', role: 'admin' })).key;
  keys.aWrite = (await createApiKey(ds, { project: A, role: 'write' })).key;
  keys.aRead = (await createApiKey(ds, { project: A, role: 'read' })).key;
  keys.bWrite = (await createApiKey(ds, { project: B, role: 'write' })).key;
  keys.bAdmin = (await createApiKey(ds, { project: B, role: 'admin' })).key;

  ids.sae = await seedSae(ds, { dSae: 32, latents: [{ index: 3, label: 'toxic persona' }] });
  ids.runA = await seedRun(ds, { saeId: ids.sae, project: A });
  ids.runB = await seedRun(ds, { saeId: ids.sae, project: B });
  // Two checkpoints, so that trend and rising latents (model diffing against step 0) have data.
  for (const step of [0, 1]) {
    const meanVector = new Float32Array(32).fill(0.1);
    meanVector[3] = 0.5 + step;
    ids.evalA = await seedEvaluation(ds, {
      runId: ids.runA,
      step,
      latents: new Map([[3, { mean: 0.5 + step, promptMeans: [0.4 + step, 0.6 + step] }]]),
      meanVector,
    });
    await app.get(EarlyWarningService).processEvaluation(ids.evalA);
  }
  // The rise from step 0 to 1 opens alerts on run A; if the detectors' defaults ever change, make one.
  const opened: { id: string }[] = await ds.query(`SELECT id FROM alert WHERE run_id = $1 LIMIT 1`, [
    ids.runA,
  ]);
  ids.alertA =
    opened[0]?.id ??
    (
      await ds.query(
        `INSERT INTO alert (run_id, project, target, kind, latent_index, rule, severity, status, opened_at_step, evidence)
         VALUES ($1, $2, 'latent:3', 'latent', 3, 'threshold', 'warning', 'open', 1, '{}') RETURNING id`,
        [ids.runA, A],
      )
    )[0].id;
  [{ id: ids.webhookA }] = await ds.query(
    `INSERT INTO webhook (project, url, secret) VALUES ($1, 'http://127.0.0.1:9/hook', 's') RETURNING id`,
    [A],
  );
});

after(async () => {
  await app.close();
});

/**
 * One request per policy entry, aimed at project A's resources. `leak` is a string that must not appear
 * in what a project-B key gets back (A's project name or run id).
 */
function requests(): Record<string, { path: string; body?: unknown }> {
  return {
    'POST /v1/saes': { path: '/v1/saes', body: { name: 'x', format: 'saelens', path: '/nonexistent' } },
    'GET /v1/saes': { path: '/v1/saes' },
    'GET /v1/saes/:id': { path: `/v1/saes/${ids.sae}` },
    'GET /v1/saes/:id/watchlist': { path: `/v1/saes/${ids.sae}/watchlist` },
    'PUT /v1/saes/:id/watchlist': {
      path: `/v1/saes/${ids.sae}/watchlist`,
      body: { latents: [], directions: [] },
    },
    'POST /v1/runs': { path: '/v1/runs', body: { name: 'r', project: A, model: 'm', saeId: ids.sae } },
    'GET /v1/runs': { path: `/v1/runs?project=${A}` },
    'GET /v1/runs/:id': { path: `/v1/runs/${ids.runA}` },
    'GET /v1/runs/:id/evaluations': { path: `/v1/runs/${ids.runA}/evaluations` },
    'PUT /v1/runs/:runId/checkpoints/:step/activations': {
      path: `/v1/runs/${ids.runA}/checkpoints/5/activations`,
    },
    'GET /v1/evaluations/:id': { path: `/v1/evaluations/${ids.evalA}` },
    'GET /v1/runs/:runId/trend': { path: `/v1/runs/${ids.runA}/trend` },
    'GET /v1/runs/:runId/top-latents': { path: `/v1/runs/${ids.runA}/top-latents` },
    'GET /v1/projects/:project/emerging-latents': { path: `/v1/projects/${A}/emerging-latents` },
    'GET /v1/fleet/drift': { path: `/v1/fleet/drift?target=latent:3&project=${A}` },
    'GET /v1/alerts': { path: `/v1/alerts?project=${A}` },
    'GET /v1/alerts/stream': { path: `/v1/alerts/stream?project=${A}` },
    'POST /v1/alerts/:id/ack': { path: `/v1/alerts/${ids.alertA}/ack`, body: { by: 'someone' } },
    'POST /v1/webhooks': { path: '/v1/webhooks', body: { project: A, url: 'http://127.0.0.1:9/h' } },
    'GET /v1/webhooks': { path: `/v1/webhooks?project=${A}` },
    'GET /v1/webhooks/:id/deliveries': { path: `/v1/webhooks/${ids.webhookA}/deliveries` },
  };
}

describe('REST', () => {
  test('every route the API serves has an access policy, and every policy a route', () => {
    const router = (
      app.getHttpAdapter().getInstance() as {
        router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      }
    ).router;
    const served = new Set<string>();
    for (const layer of router.stack) {
      if (!layer.route) continue;
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on && method !== '_all') served.add(`${method.toUpperCase()} ${layer.route.path}`);
      }
    }
    // Swagger's own pages are registered outside Nest's router handling; they are public documentation.
    const undocumented = [...served].filter((r) => !(r in HTTP_POLICY) && !r.startsWith('GET /docs'));
    assert.deepEqual(undocumented, [], 'routes without an access policy');
    const stale = Object.keys(HTTP_POLICY).filter((r) => !served.has(r));
    assert.deepEqual(stale, [], 'policies for routes that do not exist');
  });

  test('every protected route is covered by this test', () => {
    const protectedRoutes = Object.entries(HTTP_POLICY)
      .filter(([, s]) => s.kind !== 'public')
      .map(([r]) => r)
      .sort();
    assert.deepEqual(Object.keys(requests()).sort(), protectedRoutes);
  });

  test('without a key every protected route answers 401; public ones answer', async () => {
    for (const [route, req] of Object.entries(requests())) {
      const res = await call(route.split(' ')[0], req.path, undefined, req.body);
      assert.equal(res.status, 401, `${route}: ${res.text}`);
    }
    assert.equal((await call('GET', '/v1/runs', 'snt_000000000000_' + 'x'.repeat(32))).status, 401);
    assert.equal((await call('GET', '/healthz')).status, 200);
    assert.equal((await call('GET', '/metrics')).status, 200);
  });

  test("a project-B key can neither read nor write project A's resources", async () => {
    for (const [route, req] of Object.entries(requests())) {
      const method = route.split(' ')[0];
      const scope = HTTP_POLICY[route];
      // B's admin key passes every role check, so only the project check can stop it.
      const res = await call(method, req.path, keys.bAdmin, req.body);
      if (scope.kind === 'org') {
        assert.notEqual(res.status, 401, route);
        continue;
      }
      assert.ok([403, 404].includes(res.status), `${route} answered ${res.status} to project B: ${res.text}`);
    }
    // A list without a project filter is narrowed to the key's own project.
    const runs = JSON.parse((await call('GET', '/v1/runs', keys.bWrite)).text);
    const listed = (Array.isArray(runs) ? runs : runs.runs) as { id: string }[];
    assert.ok(listed.some((r) => r.id === ids.runB) && !listed.some((r) => r.id === ids.runA));
    const alerts = JSON.parse((await call('GET', '/v1/alerts', keys.bWrite)).text) as {
      alerts: { id: string }[];
    };
    assert.ok(!alerts.alerts.some((a) => a.id === ids.alertA));
    const drift = await call('GET', '/v1/fleet/drift?target=latent:3', keys.bWrite);
    assert.equal(drift.status, 200);
    assert.ok(!drift.text.includes(ids.runA));
  });

  test("project A's keys reach A's resources, within their role", async () => {
    for (const [route, req] of Object.entries(requests())) {
      const method = route.split(' ')[0];
      const scope = HTTP_POLICY[route];
      if (scope.kind === 'public') continue;
      const key = scope.role === 'admin' ? keys.adminAll : scope.role === 'write' ? keys.aWrite : keys.aRead;
      const res = await call(method, req.path, key, req.body);
      // Authorised: anything but 401/403/404 from the guard (a 400 for a deliberately empty body is fine).
      assert.ok(
        ![401, 403, 429].includes(res.status),
        `${route} refused A's own key: ${res.status} ${res.text}`,
      );
      if (method === 'GET') assert.equal(res.status, 200, `${route}: ${res.text}`);
    }
    const readWrites = await call('POST', '/v1/runs', keys.aRead, {
      name: 'r2',
      project: A,
      model: 'm',
      saeId: ids.sae,
    });
    assert.equal(readWrites.status, 403, 'a read key cannot write');
    const writeAdmins = await call('PUT', `/v1/saes/${ids.sae}/watchlist`, keys.aWrite, { latents: [] });
    assert.equal(writeAdmins.status, 403, 'a write key cannot change a shared watchlist');
  });

  test('the alert stream takes the key as ?key= (EventSource cannot send headers)', async () => {
    assert.equal((await call('GET', `/v1/alerts/stream?key=${keys.aRead}`)).status, 200);
    assert.equal((await call('GET', `/v1/alerts/stream?project=${A}&key=${keys.bWrite}`)).status, 403);
    assert.equal((await call('GET', `/v1/runs?key=${keys.aRead}`)).status, 401, '?key= only on the stream');
  });

  test('security headers are set and errors carry no stack traces', async () => {
    const res = await call('GET', `/v1/runs/not-a-uuid`, keys.adminAll);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(res.headers.get('content-security-policy'));
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.ok(!/at \w+ \(|node_modules|SELECT /.test(res.text), res.text);
  });
});

describe('gRPC', () => {
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  before(() => {
    const def = protoLoader.loadSync(protoFiles(), PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      sentinel: { v1: { EarlyWarning: new (addr: string, creds: grpc.ChannelCredentials) => typeof client } };
    };
    client = new pkg.sentinel.v1.EarlyWarning(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  });
  after(() => client.close());

  const unary = (method: string, req: unknown, key?: string) =>
    new Promise<{ code: number; value?: unknown }>((resolve) => {
      const md = new grpc.Metadata();
      if (key) md.set('authorization', `Bearer ${key}`);
      const fn = client[method.charAt(0).toLowerCase() + method.slice(1)].bind(client) as (
        r: unknown,
        m: grpc.Metadata,
        cb: (err: grpc.ServiceError | null, v: unknown) => void,
      ) => void;
      fn(req, md, (err, value) => resolve({ code: err ? err.code : grpc.status.OK, value }));
    });

  const stream = (req: unknown, key?: string) =>
    new Promise<number>((resolve) => {
      const md = new grpc.Metadata();
      if (key) md.set('authorization', `Bearer ${key}`);
      const call = (
        client.watchAlerts as (r: unknown, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>
      )(req, md);
      const done = (code: number) => {
        call.cancel();
        resolve(code);
      };
      call.on('error', (err: grpc.ServiceError) => done(err.code));
      call.on('metadata', () => done(grpc.status.OK));
      setTimeout(() => done(grpc.status.OK), 1_500);
    });

  function grpcRequests(): Record<string, unknown> {
    return {
      'EarlyWarning.GetRunTrend': { runId: ids.runA },
      'EarlyWarning.GetTopLatents': { runId: ids.runA },
      'EarlyWarning.GetEmergingLatents': { project: A },
      'EarlyWarning.GetFleetDrift': { target: 'latent:3', project: A },
      'EarlyWarning.ListAlerts': { project: A },
      'EarlyWarning.AcknowledgeAlert': { id: ids.alertA, by: 'b' },
      'EarlyWarning.WatchAlerts': { project: A },
    };
  }

  test('every gRPC method is covered by the policy and by this test', () => {
    assert.deepEqual(Object.keys(grpcRequests()).sort(), Object.keys(GRPC_POLICY).sort());
  });

  test("no key: UNAUTHENTICATED; project B's key: refused on project A; A's key: served", async () => {
    for (const [name, req] of Object.entries(grpcRequests())) {
      const method = name.split('.')[1];
      if (method === 'WatchAlerts') {
        assert.equal(await stream(req), grpc.status.UNAUTHENTICATED, name);
        assert.equal(await stream(req, keys.bAdmin), grpc.status.PERMISSION_DENIED, name);
        assert.equal(await stream(req, keys.aRead), grpc.status.OK, name);
        continue;
      }
      assert.equal((await unary(method, req)).code, grpc.status.UNAUTHENTICATED, name);
      const asB = await unary(method, req, keys.bAdmin);
      assert.ok(
        [grpc.status.PERMISSION_DENIED, grpc.status.NOT_FOUND].includes(asB.code),
        `${name}: ${asB.code}`,
      );
      const asA = await unary(method, req, method === 'AcknowledgeAlert' ? keys.aWrite : keys.aRead);
      assert.equal(asA.code, grpc.status.OK, name);
    }
    const narrowed = await unary('ListAlerts', {}, keys.bWrite);
    assert.equal(narrowed.code, grpc.status.OK);
    assert.ok(
      !JSON.stringify(narrowed.value).includes(ids.alertA),
      'ListAlerts without a project is narrowed',
    );
  });
});

describe('sentinel keys create', () => {
  const cli = fileURLToPath(new URL('../../apps/cli/src/main.js', import.meta.url));
  const env = { ...process.env, DATABASE_URL: config.databaseUrl };

  test('prints a working key alone on the last line, and refuses bad roles with one line', async () => {
    const { stdout } = await run(
      process.execPath,
      [cli, 'keys', 'create', '--project', A, '--role', 'read'],
      { env },
    );
    const key = stdout.trim().split('\n').at(-1)!;
    assert.match(key, /^snt_[a-z0-9]{12}_[A-Za-z0-9_-]{32}$/);
    assert.equal((await call('GET', `/v1/runs/${ids.runA}`, key)).status, 200);
    const stored: { secret_sha256: string }[] = await ds.query(`SELECT secret_sha256 FROM api_key`);
    assert.ok(
      stored.every((r) => !key.includes(r.secret_sha256)),
      'only a hash is stored',
    );

    await assert.rejects(
      run(process.execPath, [cli, 'keys', 'create', '--project', A, '--role', 'root'], { env }),
      (err: { code: number; stderr: string }) => err.code === 2 && err.stderr.trim().split('\n').length === 1,
    );
    await assert.rejects(
      run(process.execPath, [cli, 'keys', 'create', '--project', '*', '--role', 'write'], { env }),
      (err: { stderr: string }) => /only for --role admin/.test(err.stderr),
    );
  });
});
