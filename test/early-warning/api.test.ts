/* eslint-disable @typescript-eslint/no-explicit-any -- the tests walk JSON answers of the API field by field */
// Early warning end to end over real Postgres and NATS: processEvaluation on seeded evaluations, then the
// REST answers, idempotency, out-of-order checkpoints, re-alignment, webhooks (with a failing first
// attempt), the SSE stream, and the same data over gRPC.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type DataSource } from 'typeorm';
import { createApiApp } from '../../apps/api/src/app.js';
import { connectGrpc, PROTO_LOADER_OPTIONS, protoFiles } from '../../apps/api/src/grpc.js';
import { EarlyWarningService } from '../../libs/early-warning/src/index.js';
import { testConfig } from '../support/config.js';
import { freePort } from '../support/processes.js';
import { rng, seedEvaluation, seedRun, seedSae, type SeedTarget } from './seed.js';

process.env.WEBHOOK_RETRY_BASE_MS = '50';
process.env.ALERT_SWEEP_MS = '200';

const PROMPTS = 16;
const D_SAE = 512;
const STEPS = Array.from({ length: 12 }, (_, i) => i * 50);

let app: INestApplication;
let ds: DataSource;
let service: EarlyWarningService;
let base: string;
let grpcPort: number;
let saeId: string;
const project = `ew-${Date.now().toString(36)}`;

/**
 * Checkpoint i of a run: latent 10 ("toxic persona") and direction "evil" rise from checkpoint 4 by
 * `rise` per checkpoint (until `fallAt`, after which they return to the baseline), latent 12 only has
 * noise; in the full vector latent 40 rises too (an unnamed persona for model diffing).
 */
function checkpoint(seed: number, i: number, rise = 0.25, fallAt = Infinity) {
  const r = rng(seed * 1000 + i);
  const level = i >= fallAt ? 0 : Math.max(0, i - 3) * rise;
  const prompts = (offset: number, lift: number): SeedTarget => {
    const promptMeans = Array.from(
      { length: PROMPTS },
      (_, p) => offset + 0.1 * Math.sin(p) + 0.03 * r.normal() + lift,
    );
    return { mean: promptMeans.reduce((a, b) => a + b, 0) / PROMPTS, promptMeans };
  };
  const latents = new Map([
    [10, prompts(0.5, level)],
    [11, prompts(0.3, 0)],
    [12, prompts(0.8, 0)],
  ]);
  const directions = new Map([['evil', prompts(1, level)]]);
  const meanVector = new Float32Array(D_SAE);
  for (let j = 0; j < D_SAE; j++) meanVector[j] = 0.2 + 0.01 * r.normal();
  meanVector[10] = latents.get(10)!.mean;
  meanVector[40] += level * 2;
  return { latents, directions, meanVector };
}

async function seedRunWithCheckpoints(
  name: string,
  seed: number,
  order: number[] = STEPS.map((_, i) => i),
  opts: { fallAt?: number; projectName?: string } = {},
): Promise<{ runId: string; evals: string[] }> {
  const runId = await seedRun(ds, { saeId, project: opts.projectName ?? project, name });
  const evals: string[] = [];
  for (const i of order) {
    const c = checkpoint(seed, i, 0.25, opts.fallAt);
    const id = await seedEvaluation(ds, { runId, step: STEPS[i], ...c });
    evals.push(id);
    await service.processEvaluation(id);
  }
  return { runId, evals };
}

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path);
  return { status: res.status, body: await res.json() };
}

before(async () => {
  const config = testConfig();
  app = await createApiApp(config, false);
  grpcPort = await freePort();
  connectGrpc(app, config, grpcPort);
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  ds = app.get<DataSource>((await import('typeorm')).DataSource);
  service = app.get(EarlyWarningService);
  saeId = await seedSae(ds, {
    dSae: D_SAE,
    latents: [
      { index: 10, label: 'toxic persona' },
      { index: 11, label: 'sarcastic advice' },
      { index: 12, label: 'python code', rules: { trend: { enabled: false } } },
    ],
    directions: [{ name: 'evil' }],
  });
});

after(async () => {
  await app?.close();
});

/** What a recompute could change: statistics, alerts, outbox and rising latents of a run. */
async function snapshot(runId: string) {
  return {
    stats: await ds.query(
      `SELECT evaluation_id, target, step, mean, baseline_mean, delta, se, t, p, z, cusum, trend_p, trend_slope
         FROM evaluation_target_stat WHERE run_id = $1 ORDER BY target, step`,
      [runId],
    ),
    alerts: await ds.query(
      `SELECT id, target, rule, severity, status, opened_at_step, resolved_at_step, evidence, updated_at
         FROM alert WHERE run_id = $1 ORDER BY id`,
      [runId],
    ),
    events: await ds.query(`SELECT id FROM alert_event WHERE run_id = $1 ORDER BY id`, [runId]),
    rising: await ds.query(`SELECT * FROM evaluation_rising_latent WHERE run_id = $1 ORDER BY step, rank`, [
      runId,
    ]),
  };
}

describe('early warning over REST', () => {
  let runA: { runId: string; evals: string[] };

  before(async () => {
    runA = await seedRunWithCheckpoints('contaminated', 1);
  });

  test('a rising persona latent and direction raise alerts; noise does not', async () => {
    const { status, body } = await get(`/v1/runs/${runA.runId}/trend`);
    assert.equal(status, 200);
    assert.equal(body.runId, runA.runId);
    assert.deepEqual(body.baseline, { runId: runA.runId, step: 0 });
    assert.deepEqual(
      body.series.map((s: any) => [s.kind, s.index ?? s.name, s.label, s.points.length]),
      [
        ['latent', 10, 'toxic persona', 12],
        ['latent', 11, 'sarcastic advice', 12],
        ['latent', 12, 'python code', 12],
        ['direction', 'evil', 'evil', 12],
      ],
    );
    const toxic = body.series[0];
    assert.deepEqual(Object.keys(toxic.points[0]).sort(), [
      'cusum',
      'delta',
      'mean',
      'p',
      'se',
      'step',
      't',
      'z',
    ]);
    assert.equal(toxic.points[0].delta, 0);
    assert.ok(toxic.points[11].delta > 1.9 && toxic.points[11].t > 20 && toxic.points[11].p < 1e-10);
    const rules = toxic.alerts.map((a: any) => `${a.rule}:${a.severity}:${a.status}`).sort();
    assert.deepEqual(rules, ['cusum:critical:open', 'threshold:warning:open', 'trend:watch:open']);
    const threshold = toxic.alerts.find((a: any) => a.rule === 'threshold');
    assert.equal(
      threshold.openedAtStep,
      200,
      'the first checkpoint of the rise (0.25 above a 0.1-sd baseline)',
    );
    assert.equal(threshold.evidence.opened.step, 200);
    assert.ok(threshold.evidence.opened.pUp < 0.001 && threshold.evidence.opened.z >= 0.5);
    assert.deepEqual(threshold.evidence.baseline, {
      runId: runA.runId,
      step: 0,
      evaluationId: runA.evals[0],
    });
    assert.equal(body.series[3].alerts.filter((a: any) => a.rule === 'threshold').length, 1);
    assert.deepEqual(body.series[1].alerts, []);
    assert.deepEqual(body.series[2].alerts, []);
  });

  test('processEvaluation is idempotent: a second pass over every checkpoint changes nothing', async () => {
    const before1 = await snapshot(runA.runId);
    for (const id of runA.evals) await service.processEvaluation(id);
    await service.processEvaluation(runA.evals[5]);
    assert.deepEqual(await snapshot(runA.runId), before1);
  });

  test('checkpoints arriving out of order end in the same state as in order', async () => {
    const shuffled = [7, 2, 11, 0, 5, 9, 1, 10, 3, 6, 4, 8];
    const runB = await seedRunWithCheckpoints('contaminated-shuffled', 1, shuffled);
    const strip = async (runId: string) => {
      const s = await snapshot(runId);
      return {
        stats: s.stats.map(({ evaluation_id: _e, ...rest }: any) => rest),
        alerts: s.alerts
          .map((a: any) => [a.target, a.rule, a.severity, a.status, a.opened_at_step, a.resolved_at_step])
          .sort((x: any[], y: any[]) => (x.join() < y.join() ? -1 : 1)),
        rising: s.rising.map((r: any) => [r.step, r.rank, r.latent_index, r.delta]),
      };
    };
    assert.deepEqual(await strip(runB.runId), await strip(runA.runId));
  });

  test('a re-aligned run: alerts resolve when the signal returns within the baseline bounds', async () => {
    const run = await seedRunWithCheckpoints('realigned', 3, undefined, { fallAt: 9 });
    const { body } = await get(`/v1/alerts?runId=${run.runId}`);
    const toxic = body.alerts.filter((a: any) => a.target.kind === 'latent' && a.target.index === 10);
    assert.ok(toxic.length >= 2);
    for (const a of toxic) {
      assert.equal(a.status, 'resolved', `${a.rule} resolved`);
      assert.equal(a.resolvedAtStep, 450);
      assert.ok(a.evidence.resolved.z <= 0.2 || a.evidence.resolved.pUp >= 0.05);
    }
    const open = await get(`/v1/alerts?runId=${run.runId}&status=open`);
    assert.deepEqual(open.body.alerts, []);
  });

  test('alerts feed filters, acknowledgement, and JSON errors', async () => {
    const all = (await get(`/v1/alerts?project=${project}&severity=warning`)).body.alerts;
    assert.ok(all.length >= 2 && all.every((a: any) => a.severity === 'warning' && a.project === project));
    for (const a of all) {
      assert.deepEqual(
        Object.keys(a.target).sort(),
        a.target.kind === 'latent' ? ['index', 'kind'] : ['kind', 'name'],
      );
    }
    const id = all[0].id;
    const ack = await fetch(`${base}/v1/alerts/${id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice', note: 'looking' }),
    });
    assert.equal(ack.status, 200);
    const acked = (await ack.json()) as any;
    assert.equal(acked.acknowledgedBy, 'alice');
    const again: any = await (
      await fetch(`${base}/v1/alerts/${id}/ack`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'bob' }),
      })
    ).json();
    assert.equal(again.acknowledgedBy, 'alice', 'the first acknowledgement is kept');
    assert.equal(again.acknowledgedAt, acked.acknowledgedAt);

    const bad = await get(`/v1/alerts?status=closed`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /status must be open or resolved/);
    const missing = await get(`/v1/runs/00000000-0000-0000-0000-000000000000/trend`);
    assert.equal(missing.status, 404);
    assert.match(missing.body.message, /not found/);
    assert.equal((await get(`/v1/fleet/drift?target=neuron:3`)).status, 400);
    assert.equal((await get(`/v1/runs/${runA.runId}/top-latents?step=25`)).status, 404);
  });

  test('model diffing: top rising latents of an evaluation and emerging latents of the project', async () => {
    const latest = await get(`/v1/runs/${runA.runId}/top-latents`);
    assert.equal(latest.status, 200);
    assert.equal(latest.body.step, 550);
    assert.deepEqual(
      latest.body.latents.slice(0, 2).map((l: any) => [l.index, l.label]),
      [
        [40, undefined],
        [10, 'toxic persona'],
      ],
    );
    const l40 = latest.body.latents[0];
    assert.ok(Math.abs(l40.delta - (l40.mean - l40.baselineMean)) < 1e-6 && l40.delta > 3.5);
    const atStep = await get(`/v1/runs/${runA.runId}/top-latents?step=300`);
    assert.equal(atStep.body.step, 300);

    const emerging = await get(`/v1/projects/${project}/emerging-latents`);
    assert.equal(emerging.status, 200);
    assert.ok(emerging.body.runsConsidered >= 2);
    // Runs A and B (same data) still show the rise at their latest checkpoint; the re-aligned run does not.
    const strongest = [...emerging.body.latents]
      .sort((x: any, y: any) => y.meanDelta - x.meanDelta)
      .slice(0, 2);
    assert.deepEqual(
      strongest.map((l: any) => [l.index, l.runs, l.label]),
      [
        [40, 2, undefined],
        [10, 2, 'toxic persona'],
      ],
    );
    assert.ok(emerging.body.latents.every((l: any) => l.runs >= 2 && l.saeId === saeId));
  });

  test('fleet drift: every run’s latest value and status for a target, sortable', async () => {
    const { status, body } = await get(`/v1/fleet/drift?target=latent:10&project=${project}&sort=delta`);
    assert.equal(status, 200);
    assert.deepEqual(body.target, { kind: 'latent', index: 10 });
    assert.ok(body.runs.length >= 3);
    const deltas = body.runs.map((r: any) => r.delta);
    assert.deepEqual(
      deltas,
      [...deltas].sort((a, b) => b - a),
    );
    const a = body.runs.find((r: any) => r.runId === runA.runId);
    assert.equal(a.step, 550);
    assert.equal(a.status, 'critical');
    assert.equal(a.openAlerts, 3);
    const realigned = body.runs.find((r: any) => r.runName === 'realigned');
    assert.equal(realigned.status, 'ok');
    const asc = await get(`/v1/fleet/drift?target=direction:evil&project=${project}&sort=step&order=asc`);
    assert.equal(asc.body.runs.length, body.runs.length);
  });
});

describe('alert delivery', () => {
  test('webhooks: HMAC-signed, retried with backoff after a failed first attempt, logged', async () => {
    const hookProject = `${project}-hooks`;
    const received: { body: string; signature: string; attempt: string }[] = [];
    let calls = 0;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls++;
        if (calls === 1) {
          res.writeHead(503).end('not yet');
          return;
        }
        received.push({
          body,
          signature: String(req.headers['x-sentinel-signature']),
          attempt: String(req.headers['x-sentinel-attempt']),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const created = await fetch(`${base}/v1/webhooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ project: hookProject, url, minSeverity: 'critical' }),
      });
      assert.equal(created.status, 201);
      const hook = (await created.json()) as { id: string; secret: string };
      assert.ok(hook.secret.length >= 16);
      const listed = await get(`/v1/webhooks?project=${hookProject}`);
      assert.deepEqual(
        listed.body.webhooks.map((w: any) => [w.id, w.url, w.secret]),
        [[hook.id, url, undefined]],
      );

      await seedRunWithCheckpoints('hooked', 1, undefined, { projectName: hookProject });
      const deadline = Date.now() + 10_000;
      while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Only the critical (CUSUM) alerts, of latent 10 and direction evil, reach a critical-only webhook.
      assert.equal(received.length, 2);
      for (const { body, signature } of received) {
        assert.equal(signature, `sha256=${createHmac('sha256', hook.secret).update(body).digest('hex')}`);
        const event = JSON.parse(body);
        assert.equal(event.change, 'opened');
        assert.equal(event.alert.rule, 'cusum');
        assert.equal(event.alert.project, hookProject);
      }
      assert.deepEqual(received.map((r) => r.attempt).sort(), ['1', '2']);

      const log = await get(`/v1/webhooks/${hook.id}/deliveries`);
      assert.equal(log.body.deliveries.length, 2);
      assert.ok(log.body.deliveries.every((d: any) => d.status === 'delivered'));
      const retried = log.body.deliveries.find((d: any) => d.attempts.length === 2);
      assert.deepEqual(
        retried.attempts.map((a: any) => [a.attempt, a.statusCode, a.error ?? null]),
        [
          [1, 503, 'HTTP 503'],
          [2, 204, null],
        ],
      );
      const gap = Date.parse(retried.attempts[1].at) - Date.parse(retried.attempts[0].at);
      assert.ok(gap >= 45, `retried after the 50 ms backoff, not at once (${gap} ms)`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('the SSE stream carries alert changes published on NATS after commit', async () => {
    const streamProject = `${project}-sse`;
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/alerts/stream?project=${streamProject}`, {
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const events: any[] = [];
    const reading = (async () => {
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (/^event: alert$/m.test(block)) events.push(JSON.parse(/^data: (.*)$/m.exec(block)![1]));
        }
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const run = await seedRunWithCheckpoints('streamed', 1, undefined, { projectName: streamProject });
    const deadline = Date.now() + 5_000;
    while (events.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await reading;
    assert.ok(events.length >= 5, `got ${events.length} events`);
    assert.ok(events.every((e) => e.change === 'opened' && e.alert.runId === run.runId && e.eventId));
    const alerts = (await get(`/v1/alerts?runId=${run.runId}`)).body.alerts;
    assert.deepEqual(new Set(events.map((e) => e.alert.id)), new Set(alerts.map((a: any) => a.id)));
  });
});

describe('gRPC', () => {
  let client: any;
  let runId: string;

  before(async () => {
    const def = protoLoader.loadSync(protoFiles(), PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as any;
    client = new pkg.sentinel.v1.EarlyWarning(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    runId = (await get(`/v1/fleet/drift?target=latent:10&project=${project}`)).body.runs[0].runId;
  });
  after(() => client?.close());

  const call = (method: string, req: object): Promise<any> =>
    new Promise((resolve, reject) =>
      client[method](req, (err: Error | null, res: any) => (err ? reject(err) : resolve(res))),
    );

  /** REST and gRPC differ only in encoding: null ↔ absent, evidence ↔ evidenceJson. */
  const normal = (value: any): any => {
    if (Array.isArray(value)) return value.map(normal);
    if (value && typeof value === 'object') {
      const out: any = {};
      for (const [k, v] of Object.entries(value)) {
        if (v === null || v === undefined) continue;
        if (k === 'evidenceJson') out.evidence = normal(JSON.parse(v as string));
        else out[k] = normal(v);
      }
      return out;
    }
    return value;
  };

  test('the same answers as REST for every query', async () => {
    const pairs: [string, object, string][] = [
      ['GetRunTrend', { runId }, `/v1/runs/${runId}/trend`],
      ['GetTopLatents', { runId }, `/v1/runs/${runId}/top-latents`],
      ['GetTopLatents', { runId, step: 250 }, `/v1/runs/${runId}/top-latents?step=250`],
      ['GetEmergingLatents', { project }, `/v1/projects/${project}/emerging-latents`],
      [
        'GetFleetDrift',
        { target: 'direction:evil', project, sort: 'z' },
        `/v1/fleet/drift?target=direction:evil&project=${project}&sort=z`,
      ],
      ['ListAlerts', { project, status: 'open' }, `/v1/alerts?project=${project}&status=open`],
    ];
    for (const [method, req, path] of pairs) {
      const [viaGrpc, viaRest] = await Promise.all([call(method, req), get(path)]);
      assert.equal(viaRest.status, 200, path);
      assert.deepEqual(normal(viaGrpc), normal(viaRest.body), method);
    }
  });

  test('errors map to gRPC status codes, and server reflection lists the service', async () => {
    await assert.rejects(
      call('GetRunTrend', { runId: '00000000-0000-0000-0000-000000000000' }),
      (err: any) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        return true;
      },
    );
    await assert.rejects(
      call('GetFleetDrift', { target: 'x' }),
      (err: any) => err.code === grpc.status.INVALID_ARGUMENT,
    );

    const reflectionProto = join(
      dirname(createRequire(import.meta.url).resolve('@grpc/reflection')),
      '../proto/grpc/reflection/v1alpha/reflection.proto',
    );
    const reflectionDef = protoLoader.loadSync(reflectionProto);
    const reflection = (grpc.loadPackageDefinition(reflectionDef) as any).grpc.reflection.v1alpha
      .ServerReflection;
    const rc = new reflection(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const services = await new Promise<string[]>((resolve, reject) => {
      const stream = rc.ServerReflectionInfo();
      stream.on('data', (msg: any) => {
        resolve(msg.listServicesResponse.service.map((s: any) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ listServices: '' });
    });
    rc.close();
    assert.ok(services.includes('sentinel.v1.EarlyWarning'), services.join(', '));
  });

  test('WatchAlerts streams alert changes', async () => {
    const watchProject = `${project}-grpc`;
    const stream = client.WatchAlerts({ project: watchProject });
    const events: any[] = [];
    stream.on('data', (e: any) => events.push(e));
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    await seedRunWithCheckpoints('watched', 1, undefined, { projectName: watchProject });
    const deadline = Date.now() + 5_000;
    while (events.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stream.cancel();
    assert.ok(events.length >= 5, `got ${events.length}`);
    assert.ok(
      events.every(
        (e) =>
          e.change === 'opened' &&
          e.alert.project === watchProject &&
          JSON.parse(e.alert.evidenceJson).opened,
      ),
    );
  });
});
