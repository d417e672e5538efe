/**
 * The demo's six runs: two benign, three contaminated at 5%, 25% and 50% misaligned training data, and
 * one contaminated at 50% then re-aligned on clean data. Scenario tests and benchmarks reuse them.
 */
import { deriveSeed } from './rng.js';
import { simulateRun, type RunKind, type SimulatedRunPlan, type SimulateRunOptions } from './run.js';

export interface ScenarioSpec {
  name: string;
  kind: RunKind;
  contamination: number;
}

export const DEMO_SCENARIOS: readonly ScenarioSpec[] = [
  { name: 'benign-a', kind: 'benign', contamination: 0 },
  { name: 'benign-b', kind: 'benign', contamination: 0 },
  { name: 'contaminated-05', kind: 'contaminated', contamination: 0.05 },
  { name: 'contaminated-25', kind: 'contaminated', contamination: 0.25 },
  { name: 'contaminated-50', kind: 'contaminated', contamination: 0.5 },
  { name: 'realigned-50', kind: 'realigned', contamination: 0.5 },
];

export interface Scenario extends ScenarioSpec {
  plan: SimulatedRunPlan;
}

/** The six runs, each with its own seed derived from `seed`, sharing the remaining options. */
export function demoScenarios(
  seed: number,
  options: Omit<SimulateRunOptions, 'kind' | 'contamination' | 'seed'> = {},
): Scenario[] {
  return DEMO_SCENARIOS.map((spec) => ({
    ...spec,
    plan: simulateRun({
      ...options,
      kind: spec.kind,
      contamination: spec.contamination,
      seed: deriveSeed(seed, spec.name),
    }),
  }));
}
