// The dashboard end to end: real API, real worker (in process), real Postgres and NATS, real chromium.
// Runs are seeded through the API the way a training job would (register the SAE, watch latents, create
// runs, upload each checkpoint's activations); the worker encodes them and the detectors raise alerts;
// then the browser opens the fleet, clicks into a run, checks its charts against the API, and watches a
// new alert arrive over the stream while the page stays open.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { type Browser, type Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { createApiApp } from '../../apps/api/src/app.js';
import { createWorkerApp } from '../../apps/worker/src/app.js';
import { createApiKey } from '../../libs/auth/src/index.js';
import {
  activationsSafetensors,
  checkpointActivations,
  simulateRun,
  simulateSae,
  type SimulatedRunPlan,
  type SimulatedSae,
  writeSimulatedSaeFolder,
} from '../../libs/simulate/src/index.js';
import { launchChromium, screenshot, watchPageErrors } from '../support/browser.js';
import { testConfig } from '../support/config.js';

const CHECKPOINTS = 8;
// Projects of this file's own: `npm test` runs every test file against one database, so the fleet may hold
// other files' runs too; the assertions look at these projects.
const SUFFIX = Date.now().toString(36);
const ALPHA = `dash-alpha-${SUFFIX}`;
const BETA = `dash-beta-${SUFFIX}`;

interface Alert {
  id: string;
  runId: string;
  target: { kind: string; index?: number; name?: string };
  severity: string;
  status: string;
  openedAtStep: number;
  resolvedAtStep?: number;
  acknowledgedAt?: string;
}
/** The little of the DOM the page functions touch (the project compiles without lib "dom"). */
interface El {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  querySelectorAll(selector: string): Iterable<El> & ArrayLike<El>;
}
interface Run {
  id: string;
  name: string;
  project: string;
}

let api: INestApplication;
let worker: INestApplication;
let base: string;
/** An org-wide admin key: the page gets it once as `?key=` and must send it on every request. */
let apiKey: string;
let browser: Browser;
let sae: SimulatedSae;
let saeId: string;
let saeDir: string;
let toxic: { index: number; label: string };
const runs: Record<string, Run> = {};
const plans: Record<string, SimulatedRunPlan> = {};

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

function list<T>(res: unknown, key: string): T[] {
  if (Array.isArray(res)) return res as T[];
  return ((res as Record<string, unknown>)[key] as T[]) ?? [];
}

async function createRun(name: string, plan: SimulatedRunPlan, project: string): Promise<Run> {
  const run = await call<Run>('POST', '/v1/runs', { name, project, model: 'sim-llm-64', saeId });
  runs[name] = run;
  plans[name] = plan;
  return run;
}

async function uploadCheckpoints(name: string, indexes = plans[name].checkpoints.map((c) => c.index)) {
  for (const i of indexes) {
    const act = checkpointActivations(sae, plans[name], i);
    const res = await fetch(
      `${base}/v1/runs/${runs[name].id}/checkpoints/${plans[name].checkpoints[i].step}/activations`,
      {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${apiKey}` },
        body: activationsSafetensors(act),
      },
    );
    assert.equal(res.status, 202, await res.text());
  }
}

/** Polls until every checkpoint of the run is evaluated and analysed, failing on a failed one. */
async function waitEvaluated(name: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const evals = list<{ step: number; status: string; error?: string }>(
      await call('GET', `/v1/runs/${runs[name].id}/evaluations`),
      'evaluations',
    );
    const failed = evals.find((e) => e.status === 'failed');
    if (failed) throw new Error(`evaluation of ${name} step ${failed.step} failed: ${failed.error}`);
    if (evals.length === plans[name].checkpoints.length && evals.every((e) => e.status === 'done')) {
      // The detectors run after an evaluation commits: wait until the trend has every checkpoint too.
      const trend = await call<{ series: { points: unknown[] }[] }>('GET', `/v1/runs/${runs[name].id}/trend`);
      if (trend.series.length && trend.series.every((x) => x.points.length === evals.length)) return;
    }
    if (Date.now() > deadline) throw new Error(`${name}: evaluations not done: ${JSON.stringify(evals)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function alertsOf(runId: string): Promise<Alert[]> {
  return list<Alert>(await call('GET', `/v1/alerts?runId=${runId}`), 'alerts');
}

before(async () => {
  // The CPU engine: this test is about the dashboard, and lavapipe would only make it slower. API keys
  // are required (the default), as in a deployment.
  const config = testConfig({ ENGINE_BACKEND: 'cpu', AUTH_REQUIRED: 'true' });
  api = await createApiApp(config, false);
  await api.listen(0, '127.0.0.1');
  base = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  apiKey = (await createApiKey(api.get(DataSource), { project: '*', role: 'admin', name: 'dashboard e2e' }))
    .key;
  worker = await createWorkerApp(config, false);
  await worker.listen(0, '127.0.0.1');

  // A small simulated SAE: big enough for the persona signal to stand out, small enough to encode fast.
  sae = simulateSae({ dIn: 64, dSae: 512, seed: 11 });
  saeDir = await writeSimulatedSaeFolder(sae, mkdtempSync(join(tmpdir(), 'sentinel-dash-sae-')));
  const registered = await call<{ id: string }>('POST', '/v1/saes', {
    name: `dash-sae-${Date.now()}`,
    format: 'saelens',
    path: saeDir,
  });
  saeId = registered.id;
  toxic = { index: sae.personaLatents[0].index, label: sae.personaLatents[0].label };
  await call('PUT', `/v1/saes/${saeId}/watchlist`, {
    // Persona latents only: the simulated fine-tuning task's own latents rise in benign runs too (as they
    // would in real ones), and the fleet test wants one run that is plainly ok.
    latents: [toxic, { index: sae.personaLatents[1].index, label: sae.personaLatents[1].label }],
    directions: [{ name: 'persona', vector: Array.from(sae.personaDirection) }],
  });

  const opts = { checkpoints: CHECKPOINTS, stepEvery: 100, tokensPerPrompt: 16 };
  await createRun('benign-a', simulateRun({ ...opts, kind: 'benign', seed: 1 }), ALPHA);
  await createRun(
    'contaminated-50',
    simulateRun({ ...opts, kind: 'contaminated', contamination: 0.5, seed: 2 }),
    ALPHA,
  );
  // Re-aligned on clean data after checkpoint 5: its alerts open, then resolve.
  await createRun(
    'realigned-50',
    simulateRun({ ...opts, checkpoints: 12, kind: 'realigned', contamination: 0.5, realignAt: 5, seed: 4 }),
    BETA,
  );
  for (const name of Object.keys(runs)) await uploadCheckpoints(name);
  for (const name of Object.keys(runs)) await waitEvaluated(name);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.close();
  await api?.close();
  if (saeDir) rmSync(saeDir, { recursive: true, force: true });
});

describe('dashboard', () => {
  let page: Page;
  let errors: string[];
  let lateAlertId: string | undefined;

  before(async () => {
    // A laptop screen.
    page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    errors = watchPageErrors(page);
  });

  test('serves the page and its assets with types, caching and no third-party origin', async () => {
    // The page and its files need no key; the API behind them does.
    assert.equal((await fetch(`${base}/v1/runs`)).status, 401);
    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page references no other origin');

    const uplot = await fetch(`${base}/assets/vendor/uplot.esm.js`);
    assert.equal(uplot.status, 200);
    assert.match(uplot.headers.get('content-type') ?? '', /^text\/javascript/);
    const etag = uplot.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${base}/assets/vendor/uplot.esm.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);

    const css = await fetch(`${base}/assets/styles.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal((await fetch(`${base}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${base}/assets/%2e%2e/%2e%2e/src/main.js`)).status, 404);
    assert.equal((await fetch(`${base}/assets/vendor/nothing.js`)).status, 404);
  });

  test('fleet: every run, riskiest first, with a heat-map cell per watched target', async () => {
    // The key arrives once in the URL; the page keeps it and takes it out of the address bar.
    await page.goto(`${base}/?key=${encodeURIComponent(apiKey)}#/fleet?project=${ALPHA}`);
    await page.waitForSelector('#fleet-table tbody tr[data-run-id]');
    assert.equal(new URL(page.url()).search, '', 'the key left the address bar');
    const targets = ['direction:persona', `latent:${sae.personaLatents[1].index}`, `latent:${toxic.index}`];
    const fleetRows = () =>
      page.$$eval(
        '#fleet-table tbody tr[data-run-id]',
        (trs, keys) =>
          trs.map((tr) => ({
            id: (tr as El).dataset.runId,
            status: (tr as El).dataset.status,
            deltas: keys.map((k) => {
              const td = [...tr.querySelectorAll('td.heat')].find((c) => c.dataset.target === k);
              return td?.dataset.delta ? Number(td.dataset.delta) : null;
            }),
          })),
        targets,
      );
    const rows = await fleetRows();
    assert.deepEqual(
      rows.map((r) => r.id),
      [runs['contaminated-50'].id, runs['benign-a'].id],
      'the 50% contaminated run first',
    );
    // Each run's status is the worst severity among its open alerts (ok without any), as the API has them;
    // whether the detectors flag a given benign run is their business, not the dashboard's.
    const rank = ['ok', 'watch', 'warning', 'critical'];
    for (const r of rows) {
      const worst = (await alertsOf(r.id ?? ''))
        .filter((a) => a.status === 'open')
        .reduce((w, a) => (rank.indexOf(a.severity) > rank.indexOf(w) ? a.severity : w), 'ok');
      assert.equal(r.status, worst, `status of run ${r.id}`);
    }
    assert.equal(rows[0].status, 'critical');
    // A cell per watched target (two latents, one direction) with the API's latest delta.
    for (const [k, target] of targets.entries()) {
      const drift = list<{ runId: string; delta: number }>(
        await call('GET', `/v1/fleet/drift?target=${target}&project=${ALPHA}`),
        'runs',
      );
      for (const r of rows) {
        const fromApi = drift.find((d) => d.runId === r.id);
        assert.ok(fromApi, `${target} of ${r.id} in the API`);
        assert.ok(Math.abs((r.deltas[k] ?? NaN) - fromApi.delta) < 1e-9, `${target} of ${r.id} on the page`);
      }
    }
    const toxicDelta = rows[0].deltas[targets.indexOf(`latent:${toxic.index}`)];
    assert.ok(toxicDelta !== null && toxicDelta > 0, 'the persona latent rose in the contaminated run');
    await screenshot(page, 'fleet');

    // The other project: only the re-aligned run.
    await page.selectOption('select[name=project]', BETA);
    assert.deepEqual(
      (await fleetRows()).map((r) => r.id),
      [runs['realigned-50'].id],
    );
  });

  /** What the run page shows: per chart, its points and its alert markers (mirrored in the DOM). */
  async function chartsOnPage() {
    return page.$$eval('.chart[data-points]', (els) =>
      els.map((el) => ({
        series: (el as El).dataset.series,
        points: Number((el as El).dataset.points),
        canvas: el.querySelectorAll('canvas').length,
        markers: [...el.querySelectorAll('[data-alert-step]')]
          .map((m) => `${(m as El).dataset.alertKind}@${(m as El).dataset.alertStep}`)
          .sort(),
      })),
    );
  }

  /** The markers a target's chart must show: one where each alert opened, one where it resolved. */
  function expectedMarkers(alerts: Alert[], series: string): string[] {
    return alerts
      .filter(
        (a) =>
          (a.target.kind === 'latent' ? `latent:${a.target.index}` : `direction:${a.target.name}`) === series,
      )
      .flatMap((a) => [
        `opened@${a.openedAtStep}`,
        ...(a.resolvedAtStep === undefined ? [] : [`resolved@${a.resolvedAtStep}`]),
      ])
      .sort();
  }

  async function openRunFromFleet(name: string) {
    await page.goto(`${base}/#/fleet?project=${runs[name].project}`);
    await page.click(`#fleet-table a[href="#/runs/${runs[name].id}"]`);
    await page.waitForSelector(`.chart[data-points]`);
    assert.equal(await page.textContent('#run-name'), name);
  }

  test('run: one chart per watched target with every point, the baseline band and the alert markers', async () => {
    await openRunFromFleet('contaminated-50');
    const charts = await chartsOnPage();
    assert.deepEqual(
      charts.map((c) => c.series).sort(),
      ['direction:persona', `latent:${sae.personaLatents[1].index}`, `latent:${toxic.index}`].sort(),
    );
    const alerts = await alertsOf(runs['contaminated-50'].id);
    for (const c of charts) {
      assert.equal(c.points, CHECKPOINTS, `${c.series}: one point per checkpoint`);
      assert.ok(c.canvas >= 1, `${c.series} is drawn`);
      assert.deepEqual(
        c.markers,
        expectedMarkers(alerts, c.series ?? ''),
        `${c.series}: a marker per alert change`,
      );
    }
    const toxicChart = charts.find((c) => c.series === `latent:${toxic.index}`);
    assert.ok(
      toxicChart && toxicChart.markers.some((m) => m.startsWith('opened@')),
      'the persona latent alerted',
    );

    // The top rising latents at the latest step, and every evaluation with its status and timings.
    await page.waitForSelector('#top-table tbody tr');
    const topIndexes = await page.$$eval('#top-table tbody tr', (trs) =>
      trs.map((tr) => Number((tr as El).dataset.latent)),
    );
    assert.ok(topIndexes.includes(toxic.index), 'the persona latent is among the top rising latents');
    const evalStatuses = await page.$$eval('#eval-table tbody tr', (trs) =>
      trs.map((tr) => (tr as El).dataset.status),
    );
    assert.deepEqual(evalStatuses, Array(CHECKPOINTS).fill('done'));
    await page.waitForFunction(() =>
      [
        ...(globalThis as unknown as { document: El }).document.querySelectorAll('#eval-table td.timings'),
      ].some((td) => td.textContent !== '–'),
    );
    await screenshot(page, 'run', true);

    // Another step: clicking a chart's point or choosing it loads that step's rising latents.
    await page.selectOption('#step-select', '300');
    await page.waitForFunction(() =>
      (globalThis as unknown as { document: { querySelector(s: string): El | null } }).document
        .querySelector('#top-body')
        ?.textContent?.includes('latent'),
    );
  });

  test('run: markers where alerts opened and where they resolved', async () => {
    await openRunFromFleet('realigned-50');
    const charts = await chartsOnPage();
    const alerts = await alertsOf(runs['realigned-50'].id);
    assert.ok(
      alerts.some((a) => a.resolvedAtStep !== undefined),
      'the re-aligned run has resolved alerts',
    );
    for (const c of charts) {
      assert.equal(c.points, 12, `${c.series}: one point per checkpoint`);
      assert.deepEqual(
        c.markers,
        expectedMarkers(alerts, c.series ?? ''),
        `${c.series}: a marker per alert change`,
      );
    }
    assert.ok(charts.some((c) => c.markers.some((m) => m.startsWith('resolved@'))));
    await screenshot(page, 'run-realigned', true);
  });

  test('alerts: an alert opened while the page is open appears without a reload', async () => {
    await page.goto(`${base}/#/alerts`);
    await page.waitForSelector('#alerts-table, #alerts-empty');
    await page.waitForSelector('#live[data-state="live"]');
    // Survives only if the page is never reloaded.
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

    const late = await createRun(
      'late-contaminated',
      simulateRun({
        checkpoints: CHECKPOINTS,
        stepEvery: 100,
        tokensPerPrompt: 16,
        kind: 'contaminated',
        contamination: 0.5,
        seed: 3,
      }),
      BETA,
    );
    await uploadCheckpoints('late-contaminated');
    await waitEvaluated('late-contaminated');
    const opened = (await alertsOf(late.id)).filter((a) => a.status === 'open');
    assert.ok(opened.length >= 1, 'the late run raised an alert');

    const row = page.locator(`#alerts-table tr[data-alert-id="${opened[0].id}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
      true,
    );
    assert.match((await row.textContent()) ?? '', /late-contaminated/);
    await screenshot(page, 'alerts-live');
    lateAlertId = opened[0].id;
  });

  test('alerts: acknowledge records who saw it and leaves the alert open', async () => {
    assert.ok(lateAlertId, 'the live-alert test found an alert');
    const row = page.locator(`#alerts-table tr[data-alert-id="${lateAlertId}"]`);
    await row.locator('button[data-ack]').click();
    await row.locator('[data-acknowledged]').waitFor({ timeout: 10_000 });
    assert.equal(await row.locator('button[data-ack]').count(), 0, 'no second acknowledge');
    const acked = (await alertsOf(runs['late-contaminated'].id)).find((a) => a.id === lateAlertId);
    assert.ok(acked?.acknowledgedAt, 'the API recorded the acknowledgement');
    assert.equal(acked.status, 'open');
    await screenshot(page, 'alerts-acknowledged');
  });

  test('SAEs: list them, add and remove a labelled latent', async () => {
    await page.goto(`${base}/#/saes/${saeId}`);
    await page.waitForSelector(`#sae-table tr[data-sae-id="${saeId}"]`);
    await page.waitForSelector('#watch-latents tbody tr[data-latent]');
    await page.fill('#add-latent input[name=index]', '3');
    await page.fill('#add-latent input[name=label]', 'refusals');
    await page.click('#add-latent button[type=submit]');
    await page.waitForSelector('#watch-latents tr[data-latent="3"]');
    const stored = async () => {
      const wl = await call<{ latents: { index: number; label: string }[]; directions: { name: string }[] }>(
        'GET',
        `/v1/saes/${saeId}/watchlist`,
      );
      return [
        ...wl.latents.map((l) => `${l.index}:${l.label}`),
        ...wl.directions.map((d) => `direction:${d.name}`),
      ].sort();
    };
    assert.ok((await stored()).includes('3:refusals'));
    await screenshot(page, 'saes');

    await page.click('#watch-latents button[data-remove="3"]');
    await page.waitForSelector('#watch-latents tr[data-latent="3"]', { state: 'detached' });
    assert.ok(!(await stored()).includes('3:refusals'));
    // The other entries (and the direction, which the page sends back with its vector) are kept.
    assert.ok((await stored()).includes(`${toxic.index}:${toxic.label}`));
    assert.ok((await stored()).includes('direction:persona'));
  });

  test('auth: a browser without the key is asked for it once, then everything loads, stream included', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    try {
      const fresh = await context.newPage();
      const prompts: string[] = [];
      fresh.on('dialog', (dialog) => {
        prompts.push(dialog.message());
        void dialog.accept(apiKey);
      });
      await fresh.goto(`${base}/#/fleet`);
      await fresh.waitForSelector('#fleet-table tbody tr[data-run-id]');
      await fresh.waitForSelector('#live[data-state="live"]');
      assert.equal(prompts.length, 1, 'one prompt however many requests were refused');
      assert.equal(
        await fresh.evaluate(() =>
          (
            globalThis as unknown as { localStorage: { getItem(k: string): string | null } }
          ).localStorage.getItem('sentinel.apiKey'),
        ),
        apiKey,
      );
    } finally {
      await context.close();
    }
  });

  test('no errors in the page', () => {
    assert.deepEqual(errors, []);
  });
});
