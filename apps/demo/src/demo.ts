/**
 * `npm run demo`: six simulated fine-tuning runs through the whole of Sentinel (REST API, NATS work
 * queue, two workers running the SAE engine, Postgres, detectors), then a table of when each run was
 * warned about against when its behaviour turned. Everything is real except the model being trained.
 */
import { join } from 'node:path';
import { type Writable } from 'node:stream';
import { type SentinelConfig } from '../../../libs/common/src/config/config.js';
import { ALL_PROJECTS, createApiKey, revokeApiKey } from '../../../libs/auth/src/index.js';
import { createDataSource } from '../../../libs/persistence/src/data-source.js';
import { runMigrations } from '../../../libs/persistence/src/migrations.js';
import {
  activationsSafetensors,
  checkpointActivations,
  demoScenarios,
  simulateSae,
  writeSimulatedSaeFolder,
  type Scenario,
  type SimulatedSae,
} from '../../../libs/simulate/src/index.js';
import { type DemoOptions } from './args.js';
import { type Alert, SentinelClient } from './client.js';
import { ensureInfra, portIsFree, type Infra } from './infra.js';
import { formatTable, summarizeRun, WARNING_SEVERITIES, type RunOutcome } from './outcome.js';
import { logTail, startApps } from './processes.js';
import { ProgressBoard } from './progress.js';

/** Things to undo, last first; run on success, on failure and on Ctrl-C. */
export class Cleanup {
  private readonly steps: (() => Promise<void>)[] = [];
  private running: Promise<void> | null = null;

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) await step().catch(() => undefined);
    })();
    return this.running;
  }
}

export interface DemoIo {
  /** The table and the URLs. */
  out: Writable;
  /** Progress and what the demo is doing. */
  err: Writable & { isTTY?: boolean; columns?: number };
}

export interface DemoResult {
  outcomes: RunOutcome[];
  table: string;
  apiUrl: string;
  /** Opens the dashboard with the demo's API key. */
  dashboardUrl: string;
  apiKey: string;
  /** From start to the table, in milliseconds, and where the time went. */
  wallMs: number;
  phases: Record<string, number>;
  evaluations: number;
  started: string[];
  project: string;
}

export async function runDemo(
  options: DemoOptions,
  config: SentinelConfig,
  io: DemoIo,
  cleanup: Cleanup,
): Promise<DemoResult> {
  const t0 = performance.now();
  const phases: Record<string, number> = {};
  let mark = t0;
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  const say = (line: string) => io.err.write(`${line}\n`);

  say(
    `Sentinel demo: 6 simulated fine-tuning runs × ${options.checkpoints} checkpoints; ` +
      `SAE d_in ${options.dIn}, d_sae ${options.dSae}; seed ${options.seed}`,
  );
  const infra = await ensureInfra({
    databaseUrl: config.databaseUrl,
    natsUrl: config.natsUrl,
    natsLogin:
      config.natsUser && config.natsPassword
        ? { user: config.natsUser, password: config.natsPassword }
        : undefined,
    databaseName: new URL(config.databaseUrl).pathname.slice(1),
    log: say,
  });
  cleanup.add(() => infra.stop());
  await runMigrations(infra.databaseUrl);
  const apiKey = await demoApiKey(infra.databaseUrl);
  cleanup.add(apiKey.revoke);
  phase('infrastructure');

  // The configured port when it is free (the README's http://127.0.0.1:3000), any free port otherwise.
  const httpPort = config.httpPort && (await portIsFree(config.httpPort)) ? config.httpPort : 0;
  const apps = await startApps({
    databaseUrl: infra.databaseUrl,
    natsUrl: infra.natsUrl,
    natsPrefix: config.natsPrefix,
    workers: options.workers,
    httpPort,
    logDir: join(infra.workDir, 'logs'),
  });
  cleanup.add(() => apps.stop());
  say(`api and ${options.workers} workers ready (logs in ${join(infra.workDir, 'logs')})`);
  phase('apps');
  try {
    return await simulateRuns(options, apps.apiUrl, apiKey.key, infra, io, t0, phases, phase);
  } catch (err) {
    // The work folder goes with the cleanup: say what the processes logged before it does.
    const tails = apps.processes.map(
      (p) => `--- ${p.name} (${p.logFile}), last lines:\n${logTail(p.logFile, 8)}`,
    );
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails.join('\n')}`, {
      cause: err,
    });
  }
}

async function simulateRuns(
  options: DemoOptions,
  apiUrl: string,
  key: string,
  infra: Infra,
  io: DemoIo,
  t0: number,
  phases: Record<string, number>,
  phase: (name: string) => void,
): Promise<DemoResult> {
  const say = (line: string) => io.err.write(`${line}\n`);

  const client = new SentinelClient(apiUrl, key);
  const sae = simulateSae({ dIn: options.dIn, dSae: options.dSae, seed: options.seed });
  const saeDir = await writeSimulatedSaeFolder(sae, join(infra.workDir, 'sae'));
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const registered = await client.registerSae(
    `simulated-${options.dIn}x${options.dSae}-seed${options.seed}-${stamp}`,
    saeDir,
  );
  await client.putWatchlist(registered.id, {
    latents: sae.personaLatents.map((l) => ({ index: l.index, label: l.label })),
    directions: [{ name: 'misaligned persona', vector: Array.from(sae.personaDirection) }],
  });
  say(
    `SAE ${registered.id} registered (SAELens folder); watching ${sae.personaLatents
      .map((l) => `#${l.index} "${l.label}"`)
      .join(', ')} and the "misaligned persona" direction`,
  );
  phase('sae');

  const project = `demo-${stamp}`;
  const scenarios = demoScenarios(options.seed, {
    checkpoints: options.checkpoints,
    stepEvery: options.stepEvery,
    tokensPerPrompt: options.tokensPerPrompt,
  });
  const runIds = new Map<string, string>();
  for (const s of scenarios) {
    const run = await client.createRun({
      name: s.name,
      project,
      model: 'simulated-lm',
      saeId: registered.id,
      baselineStep: 0,
      metadata: { simulated: true, kind: s.kind, contamination: s.contamination, seed: options.seed },
    });
    runIds.set(s.name, run.id);
  }

  say('progress: checkpoints evaluated, step, beh = simulated behaviour score, open warnings');
  const board = new ProgressBoard(
    io.err,
    scenarios.map((s) => ({ name: s.name, total: s.plan.checkpoints.length })),
  );
  const alerts = new Map<string, Alert[]>();
  await Promise.all(
    scenarios.map((s) => driveRun(client, sae, s, runIds.get(s.name)!, board, (a) => alerts.set(s.name, a))),
  );
  board.finish();
  phase('runs');

  // Read the alerts back once more now every run is finished: this is what the table reports.
  const outcomes: RunOutcome[] = [];
  for (const s of scenarios) outcomes.push(summarizeRun(s, await client.alerts(runIds.get(s.name)!)));
  const table = formatTable(outcomes);
  const wallMs = Math.round(performance.now() - t0);
  const evaluations = scenarios.reduce((n, s) => n + s.plan.checkpoints.length, 0);
  io.out.write(`\n${table}\n\n`);
  io.out.write(
    `${evaluations} checkpoints evaluated in ${(phases.runs / 1000).toFixed(1)} s; demo wall time ${(wallMs / 1000).toFixed(1)} s\n` +
      `Dashboard: ${apiUrl}/?key=${key}\n` +
      `REST:      ${apiUrl}/docs (Authorization: Bearer ${key}; an org-wide admin key, revoked when the demo ends)\n` +
      `Project:   ${project}\n`,
  );
  return {
    outcomes,
    table,
    apiUrl,
    dashboardUrl: `${apiUrl}/?key=${key}`,
    apiKey: key,
    wallMs,
    phases,
    evaluations,
    started: infra.started,
    project,
  };
}

/**
 * The API wants a key on every call (AUTH_REQUIRED): the demo makes an org-wide admin key straight in
 * Postgres, as `sentinel keys create` does, and revokes it when it ends.
 */
async function demoApiKey(databaseUrl: string): Promise<{ key: string; revoke: () => Promise<void> }> {
  const dataSource = createDataSource(databaseUrl, 'sentinel-demo');
  await dataSource.initialize();
  try {
    const { key, keyId } = await createApiKey(dataSource, {
      project: ALL_PROJECTS,
      role: 'admin',
      name: 'npm run demo',
    });
    const revoke = async () => {
      const ds = createDataSource(databaseUrl, 'sentinel-demo');
      await ds.initialize();
      await revokeApiKey(ds, keyId).finally(() => ds.destroy());
    };
    return { key, revoke };
  } finally {
    await dataSource.destroy();
  }
}

/**
 * One simulated training job: at each checkpoint it uploads the activations and waits for Sentinel's
 * verdict before training on, so alerts appear in step order, as they would for a real run.
 */
async function driveRun(
  client: SentinelClient,
  sae: SimulatedSae,
  scenario: Scenario,
  runId: string,
  board: ProgressBoard,
  onAlerts: (alerts: Alert[]) => void,
): Promise<void> {
  let warned = false;
  for (const checkpoint of scenario.plan.checkpoints) {
    const activations = checkpointActivations(sae, scenario.plan, checkpoint.index);
    const body = activationsSafetensors(activations, { run: scenario.name, step: String(checkpoint.step) });
    const { evaluationId } = await client.submitActivations(runId, checkpoint.step, body);
    board.update(scenario.name, checkpoint.index, `step ${checkpoint.step}  evaluating`);
    await waitForEvaluation(client, evaluationId, scenario.name, checkpoint.step);
    const alerts = await waitForAnalysis(client, runId, checkpoint.step);
    onAlerts(alerts);
    const warnings = alerts.filter((a) => WARNING_SEVERITIES.includes(a.severity) && a.status !== 'resolved');
    const behaviour = `behaviour ${checkpoint.behaviourScore.toFixed(2)}`;
    const short = `beh ${checkpoint.behaviourScore.toFixed(2)}`;
    if (warnings.length && !warned) {
      warned = true;
      const first = warnings[0];
      board.event(
        `⚠ ${scenario.name}: ${first.severity} (${first.rule}) at step ${checkpoint.step}, ${behaviour}`,
      );
    }
    const state = warnings.length ? `⚠ ${warnings.length} open` : warned ? 'resolved' : 'quiet';
    board.update(scenario.name, checkpoint.index + 1, `step ${checkpoint.step}  ${short}  ${state}`);
  }
}

/**
 * The detectors run after the worker has committed an evaluation: wait until the run's trend has a point
 * at this step for every watched target, then return the run's alerts (as the trend lists them).
 */
async function waitForAnalysis(client: SentinelClient, runId: string, step: number): Promise<Alert[]> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const trend = await client.trend(runId);
    if (trend.series.length > 0 && trend.series.every((s) => s.points.some((p) => p.step === step))) {
      const byId = new Map<string, Alert>();
      for (const alert of trend.series.flatMap((s) => s.alerts))
        byId.set(alert.id ?? JSON.stringify(alert), alert);
      return [...byId.values()];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the detectors did not report step ${step} of run ${runId} within 60 s`);
}

async function waitForEvaluation(
  client: SentinelClient,
  id: string,
  run: string,
  step: number,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  let delay = 50;
  while (Date.now() < deadline) {
    const evaluation = await client.evaluation(id);
    if (evaluation.status === 'done') return;
    if (evaluation.status === 'failed') {
      throw new Error(`evaluation of ${run} step ${step} failed: ${evaluation.error ?? 'no error given'}`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(250, delay * 2);
  }
  throw new Error(`evaluation of ${run} step ${step} not done after 120 s`);
}
