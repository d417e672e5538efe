/** The shapes the API answers with (REST and gRPC alike) and alert events carry. */
import { type TargetKind } from './detectors.js';
import { type RuleName, type Severity } from './rules.js';

export interface TargetView {
  kind: TargetKind;
  index?: number;
  name?: string;
}

export interface AlertView {
  id: string;
  runId: string;
  project: string;
  target: TargetView;
  rule: RuleName;
  severity: Severity;
  status: 'open' | 'resolved';
  openedAtStep: number;
  resolvedAtStep?: number;
  evidence: Record<string, unknown>;
  openedAt: string;
  updatedAt: string;
  resolvedAt?: string;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  acknowledgedNote?: string;
}

export interface AlertEvent {
  eventId: string;
  change: 'opened' | 'resolved' | 'severity' | 'acknowledged';
  alert: AlertView;
}

export interface AlertRow {
  id: string;
  run_id: string;
  project: string;
  target: string;
  kind: TargetKind;
  latent_index: number | null;
  direction_name: string | null;
  rule: RuleName;
  severity: Severity;
  status: 'open' | 'resolved';
  opened_at_step: number;
  resolved_at_step: number | null;
  evidence: Record<string, unknown>;
  opened_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  acknowledged_note: string | null;
}

export function targetView(kind: TargetKind, index: number | null, name: string | null): TargetView {
  return kind === 'latent' ? { kind, index: index ?? undefined } : { kind, name: name ?? undefined };
}

export function alertView(row: AlertRow): AlertView {
  const view: AlertView = {
    id: row.id,
    runId: row.run_id,
    project: row.project,
    target: targetView(row.kind, row.latent_index, row.direction_name),
    rule: row.rule,
    severity: row.severity,
    status: row.status,
    openedAtStep: row.opened_at_step,
    evidence: row.evidence,
    openedAt: new Date(row.opened_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
  if (row.resolved_at_step !== null) view.resolvedAtStep = row.resolved_at_step;
  if (row.resolved_at) view.resolvedAt = new Date(row.resolved_at).toISOString();
  if (row.acknowledged_at) view.acknowledgedAt = new Date(row.acknowledged_at).toISOString();
  if (row.acknowledged_by) view.acknowledgedBy = row.acknowledged_by;
  if (row.acknowledged_note) view.acknowledgedNote = row.acknowledged_note;
  return view;
}

export interface TrendPoint {
  step: number;
  mean: number;
  delta: number;
  se: number | null;
  t: number | null;
  p: number | null;
  z: number | null;
  cusum: number;
}

export interface TrendSeries {
  kind: TargetKind;
  index?: number;
  name?: string;
  label: string;
  points: TrendPoint[];
  alerts: AlertView[];
}

export interface RunTrend {
  runId: string;
  baseline: { runId: string; step: number } | null;
  series: TrendSeries[];
}

export interface TopLatents {
  runId: string;
  step: number;
  latents: { index: number; label?: string; mean: number; baselineMean: number; delta: number }[];
}

export interface EmergingLatent {
  saeId: string;
  index: number;
  label?: string;
  runs: number;
  meanDelta: number;
  maxDelta: number;
  meanRank: number;
}

export interface EmergingLatents {
  project: string;
  runsConsidered: number;
  latents: EmergingLatent[];
}

export type DriftStatus = 'ok' | Severity;

export interface FleetDriftRow {
  runId: string;
  runName: string;
  project: string;
  model: string;
  step: number;
  mean: number;
  delta: number;
  t: number | null;
  p: number | null;
  z: number | null;
  cusum: number;
  status: DriftStatus;
  openAlerts: number;
}

export interface FleetDrift {
  target: TargetView;
  sort: string;
  order: 'asc' | 'desc';
  runs: FleetDriftRow[];
}

/** JSON cannot carry ±Infinity (a paired t with zero spread); it becomes null in every answer. */
export function finiteOrNull(value: number | null | undefined): number | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value;
}
