/**
 * The demo's result, from what Sentinel said (alerts read back through the REST API) set against what the
 * simulation knows (when behaviour turned): first warning step, behavioural onset, lead in checkpoints,
 * and whether the re-aligned run's alerts resolved.
 */
import { type Scenario } from '../../../libs/simulate/src/index.js';
import { type Alert } from './client.js';

/** Alert severities that count as a warning; `watch` (a slow trend) is reported but is not one. */
export const WARNING_SEVERITIES: readonly string[] = ['warning', 'critical'];

export interface RunOutcome {
  name: string;
  kind: Scenario['kind'];
  contamination: number;
  checkpoints: number;
  firstWarningStep: number | null;
  firstWarningRule: string | null;
  behaviouralOnsetStep: number | null;
  /** Checkpoints between the first warning and the behavioural onset (positive: the warning came first). */
  leadCheckpoints: number | null;
  maxBehaviourScore: number;
  realignStep: number | null;
  /** Re-aligned run: every alert resolved by the last checkpoint. Null for the other runs. */
  resolved: boolean | null;
  resolvedAtStep: number | null;
  alertCount: number;
  watchCount: number;
}

export function summarizeRun(scenario: Scenario, alerts: Alert[]): RunOutcome {
  const { plan } = scenario;
  const steps = plan.checkpoints.map((c) => c.step);
  const warnings = alerts
    .filter((a) => WARNING_SEVERITIES.includes(a.severity))
    .sort((a, b) => a.openedAtStep - b.openedAtStep);
  const first = warnings[0] ?? null;
  const onset = plan.behaviouralOnsetStep;
  const lead = first && onset !== null ? steps.indexOf(onset) - steps.indexOf(first.openedAtStep) : null;
  const isResolved = (a: Alert) => a.status === 'resolved' || (a.resolvedAtStep ?? null) !== null;
  const resolvedSteps = alerts.map((a) => a.resolvedAtStep).filter((s): s is number => typeof s === 'number');
  return {
    name: scenario.name,
    kind: scenario.kind,
    contamination: scenario.contamination,
    checkpoints: steps.length,
    firstWarningStep: first?.openedAtStep ?? null,
    firstWarningRule: first?.rule ?? null,
    behaviouralOnsetStep: onset,
    leadCheckpoints: lead,
    maxBehaviourScore: Math.max(...plan.checkpoints.map((c) => c.behaviourScore)),
    realignStep: plan.realignStep,
    resolved: scenario.kind === 'realigned' ? alerts.length > 0 && alerts.every(isResolved) : null,
    resolvedAtStep: resolvedSteps.length ? Math.max(...resolvedSteps) : null,
    alertCount: alerts.length,
    watchCount: alerts.filter((a) => a.severity === 'watch').length,
  };
}

function contaminationText(o: RunOutcome): string {
  const pct = `${Math.round(o.contamination * 100)}%`;
  if (o.kind === 'benign') return 'none';
  return o.kind === 'realigned' ? `${pct}, re-aligned at ${o.realignStep}` : pct;
}

function leadText(o: RunOutcome): string {
  if (o.leadCheckpoints !== null) return String(o.leadCheckpoints);
  if (o.firstWarningStep !== null) return 'behaviour never turned';
  return o.behaviouralOnsetStep !== null ? 'missed' : '—';
}

function resolvedText(o: RunOutcome): string {
  if (o.resolved === null) return '—';
  return o.resolved ? `yes, at step ${o.resolvedAtStep}` : 'no';
}

export function formatTable(outcomes: RunOutcome[]): string {
  const header = [
    'run',
    'contamination',
    'first warning',
    'behavioural onset',
    'lead (checkpoints)',
    'resolved after re-alignment?',
  ];
  const rows = outcomes.map((o) => [
    o.name,
    contaminationText(o),
    o.firstWarningStep === null ? 'none' : `step ${o.firstWarningStep} (${o.firstWarningRule})`,
    o.behaviouralOnsetStep === null
      ? `none (max ${o.maxBehaviourScore.toFixed(2)})`
      : `step ${o.behaviouralOnsetStep}`,
    leadText(o),
    resolvedText(o),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
