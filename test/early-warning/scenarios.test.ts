/* eslint-disable @typescript-eslint/no-explicit-any -- the tests walk JSON answers of the API field by field */
// Scenario tests on the simulated runs of libs/simulate (the demo's runs): activations are encoded on the
// CPU with the libs/sae reference encoder (as a worker without a GPU would), stored as done evaluations,
// then early warning runs over them and the API is asked what it found.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApiApp } from '../../apps/api/src/app.js';
import { EarlyWarningService } from '../../libs/early-warning/src/index.js';
import { cpuEncodeStats } from '../../libs/sae/src/cpu/reference.js';
import { type Sae } from '../../libs/sae/src/types.js';
import {
  checkpointActivations,
  DEMO_SCENARIOS,
  deriveSeed,
  simulateRun,
  simulateSae,
  type SimulatedRunPlan,
} from '../../libs/simulate/src/index.js';
import { testConfig } from '../support/config.js';
import { seedEvaluation, seedRun, seedSae, type SeedTarget } from './seed.js';

const SEED = 20251129;
const sim = simulateSae({ dIn: 128, dSae: 512, seed: SEED });
const sae: Sae = {
  format: 'saelens',
  architecture: 'standard',
  dIn: sim.dIn,
  dSae: sim.dSae,
  wEnc: sim.wEnc,
  bEnc: sim.bEnc,
  bDec: sim.bDec,
  applyBDecToInput: true,
  normalizeActivations: 'none',
  sourceDtype: 'F32',
  source: 'libs/simulate',
};
const DIRECTION = 'misaligned persona';
const project = `scenario-${Date.now().toString(36)}`;

let app: INestApplication;
let ds: DataSource;
let service: EarlyWarningService;
let base: string;
let saeId: string;
const runs = new Map<string, { runId: string; plan: SimulatedRunPlan }>();

async function get(path: string): Promise<any> {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, path);
  return res.json();
}

/** Encodes every checkpoint of a plan and stores it as a done evaluation, as the worker would. */
async function store(name: string, plan: SimulatedRunPlan): Promise<string> {
  const runId = await seedRun(ds, { saeId, project, name, model: 'sim-llama' });
  let last = '';
  for (const c of plan.checkpoints) {
    const acts = checkpointActivations(sim, plan, c.index);
    const stats = cpuEncodeStats(sae, acts, {
      directions: [{ name: DIRECTION, vector: sim.personaDirection }],
    });
    const nPrompts = stats.nPrompts;
    const latents = new Map<number, SeedTarget>();
    for (const l of sim.personaLatents) {
      const promptMeans = Array.from(
        { length: nPrompts },
        (_, p) => stats.promptMean![p * sim.dSae + l.index],
      );
      latents.set(l.index, { mean: stats.mean[l.index], promptMeans });
    }
    const dir = stats.directions[0];
    last = await seedEvaluation(ds, {
      runId,
      step: c.step,
      latents,
      directions: new Map([[DIRECTION, { mean: dir.mean, promptMeans: Array.from(dir.promptMeans) }]]),
      meanVector: stats.mean,
    });
  }
  // One recompute sees every checkpoint; the API test shows any arrival order ends in the same state.
  await service.processEvaluation(last);
  return runId;
}

before(async () => {
  app = await createApiApp(testConfig(), false);
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  ds = app.get(DataSource);
  service = app.get(EarlyWarningService);
  saeId = await seedSae(ds, {
    dSae: sim.dSae,
    latents: sim.personaLatents.map((l) => ({ index: l.index, label: l.label })),
    directions: [{ name: DIRECTION }],
  });
  for (const spec of DEMO_SCENARIOS) {
    const benign = spec.kind === 'benign';
    const plan = simulateRun({
      kind: spec.kind,
      contamination: spec.contamination,
      checkpoints: benign ? 100 : 24,
      seed: deriveSeed(SEED, spec.name),
    });
    runs.set(spec.name, { runId: await store(spec.name, plan), plan });
  }
});

after(async () => {
  await app?.close();
});

const SEVERE = ['warning', 'critical'];

async function alertsOf(runId: string): Promise<any[]> {
  return (await get(`/v1/alerts?runId=${runId}&limit=1000`)).alerts;
}

test('benign runs raise no warning or critical alert over 100 checkpoints', async () => {
  for (const name of ['benign-a', 'benign-b']) {
    const { runId, plan } = runs.get(name)!;
    assert.equal(plan.checkpoints.length, 100);
    const severe = (await alertsOf(runId)).filter((a) => SEVERE.includes(a.severity));
    assert.deepEqual(
      severe.map((a) => `${a.rule} on ${a.target.index ?? a.target.name} at ${a.openedAtStep}`),
      [],
      name,
    );
  }
});

test('contaminated runs raise a warning before behavioural misalignment appears', async () => {
  for (const name of ['contaminated-05', 'contaminated-25', 'contaminated-50', 'realigned-50']) {
    const { runId, plan } = runs.get(name)!;
    const severe = (await alertsOf(runId)).filter((a) => SEVERE.includes(a.severity));
    assert.ok(severe.length > 0, `${name}: no warning`);
    const first = Math.min(...severe.map((a) => a.openedAtStep));
    const onset = plan.behaviouralOnsetStep ?? Infinity;
    assert.ok(first < onset, `${name}: first warning at step ${first}, behaviour turned at ${onset}`);
    // Behavioural evaluations still read about 0% when the latents give the warning.
    const behaviour = plan.checkpoints.find((c) => c.step === first)!.behaviourScore;
    assert.ok(behaviour <= 0.05, `${name}: behaviour already at ${behaviour} when warned`);
  }
  // At 5% contamination behaviour never turns in the simulation, yet the persona latents do rise.
  assert.equal(runs.get('contaminated-05')!.plan.behaviouralOnsetStep, null);
});

test("a re-aligned run's alerts resolve after re-alignment", async () => {
  const { runId, plan } = runs.get('realigned-50')!;
  const alerts = await alertsOf(runId);
  assert.ok(alerts.length > 0);
  const open = alerts.filter((a) => a.status === 'open');
  assert.deepEqual(
    open.map((a) => `${a.rule} on ${a.target.index ?? a.target.name}`),
    [],
  );
  const persona = alerts.filter((a) => a.openedAtStep <= plan.realignStep!);
  assert.ok(persona.length > 0 && persona.every((a) => a.resolvedAtStep > plan.realignStep!));
});

test('fleet drift ranks the contaminated runs above the benign ones; model diffing finds the persona', async () => {
  const toxic = sim.personaLatents.find((l) => l.label === 'toxic persona')!.index;
  const drift = await get(`/v1/fleet/drift?target=latent:${toxic}&project=${project}`);
  const order = drift.runs.map((r: any) => r.runName);
  assert.deepEqual(order.slice(0, 2).sort(), ['contaminated-25', 'contaminated-50']);
  assert.deepEqual(order.slice(-3).sort(), ['benign-a', 'benign-b', 'realigned-50']);
  const status = Object.fromEntries(drift.runs.map((r: any) => [r.runName, r.status]));
  assert.equal(status['realigned-50'], 'ok');
  assert.ok(SEVERE.includes(status['contaminated-50']));

  // Among ALL latents (not only watched ones), the persona latents rise in the contaminated runs.
  const top = await get(`/v1/runs/${runs.get('contaminated-50')!.runId}/top-latents`);
  const personaIndexes = new Set(sim.personaLatents.map((l) => l.index));
  assert.ok(top.latents.slice(0, 8).filter((l: any) => personaIndexes.has(l.index)).length >= 3);
  const emerging = await get(`/v1/projects/${project}/emerging-latents?minRuns=2`);
  const found = emerging.latents.filter((l: any) => personaIndexes.has(l.index));
  assert.ok(found.some((l: any) => l.label === 'toxic persona' && l.runs >= 2));
});
