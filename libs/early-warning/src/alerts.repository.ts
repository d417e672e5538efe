import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type Episode, type Target, targetKey } from './detectors.js';
import { type RuleName, type Severity } from './rules.js';
import { type AlertEvent, type AlertRow, alertView, type AlertView } from './views.js';

export interface DerivedEpisodes {
  target: Target;
  episodes: Episode[];
}

export interface AlertFilter {
  runId?: string;
  project?: string;
  status?: 'open' | 'resolved';
  severity?: Severity;
  limit: number;
}

const ALERT_COLUMNS = `id, run_id, project, target, kind, latent_index, direction_name, rule, severity, status,
  opened_at_step, resolved_at_step, evidence, opened_at, updated_at, resolved_at, acknowledged_at,
  acknowledged_by, acknowledged_note`;

/** Alerts, their outbox of changes, and the alerts feed. */
@Injectable()
export class AlertsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Makes the stored alerts of a run match the episodes the detectors derived, and writes one outbox
   * event per alert that opened, resolved or changed severity. An episode is the stored alert with the
   * same opening step; failing that, the derived open episode continues the stored open alert (a late,
   * earlier checkpoint can move its opening step). A stored open alert no episode accounts for any more
   * is resolved at the run's latest step, never deleted: people may have acknowledged it.
   */
  async reconcile(
    m: EntityManager,
    run: { id: string; project: string },
    derived: DerivedEpisodes[],
    latestStep: number,
  ): Promise<bigint[]> {
    const stored: AlertRow[] = await m.query(`SELECT ${ALERT_COLUMNS} FROM alert WHERE run_id = $1`, [
      run.id,
    ]);
    const byKey = new Map<string, AlertRow[]>();
    for (const row of stored) {
      const key = `${row.target}|${row.rule}`;
      byKey.set(key, [...(byKey.get(key) ?? []), row]);
    }

    type Update = { row: AlertRow; episode: Episode | null };
    const updates: Update[] = [];
    const inserts: { target: Target; episode: Episode }[] = [];
    const seen = new Set<string>();
    for (const { target, episodes } of derived) {
      const tKey = targetKey(target);
      const rules = new Set<RuleName>(episodes.map((e) => e.rule));
      for (const rows of byKey.values()) for (const r of rows) if (r.target === tKey) rules.add(r.rule);
      for (const rule of rules) {
        const key = `${tKey}|${rule}`;
        seen.add(key);
        const rows = [...(byKey.get(key) ?? [])];
        const mine = episodes.filter((e) => e.rule === rule);
        const unmatched: Episode[] = [];
        for (const episode of mine) {
          const i = rows.findIndex((r) => r.opened_at_step === episode.openedAtStep);
          if (i >= 0) updates.push({ row: rows.splice(i, 1)[0], episode });
          else unmatched.push(episode);
        }
        for (const episode of unmatched) {
          const i = episode.resolvedAtStep === null ? rows.findIndex((r) => r.status === 'open') : -1;
          if (i >= 0) updates.push({ row: rows.splice(i, 1)[0], episode });
          else inserts.push({ target, episode });
        }
        for (const row of rows) if (row.status === 'open') updates.push({ row, episode: null });
      }
    }
    // Alerts of targets no longer watched (or with no data any more) stay as they are, unless still open.
    for (const [key, rows] of byKey) {
      if (seen.has(key)) continue;
      for (const row of rows) if (row.status === 'open') updates.push({ row, episode: null });
    }

    const events: { alertId: string; change: AlertEvent['change'] }[] = [];
    // Resolutions first, so the partial unique index (one open alert per run × target × rule) always holds.
    updates.sort((a, b) => Number(isOpen(a.episode)) - Number(isOpen(b.episode)));
    for (const { row, episode } of updates) {
      const next = episode
        ? {
            severity: episode.severity,
            status: episode.resolvedAtStep === null ? 'open' : 'resolved',
            openedAtStep: episode.openedAtStep,
            resolvedAtStep: episode.resolvedAtStep,
            evidence: episode.evidence as unknown as Record<string, unknown>,
          }
        : {
            severity: row.severity,
            status: 'resolved',
            openedAtStep: row.opened_at_step,
            resolvedAtStep: row.resolved_at_step ?? latestStep,
            evidence: { ...row.evidence, superseded: 'no longer derived from the checkpoints on record' },
          };
      const same =
        next.severity === row.severity &&
        next.status === row.status &&
        next.openedAtStep === row.opened_at_step &&
        next.resolvedAtStep === row.resolved_at_step &&
        canonical(next.evidence) === canonical(row.evidence);
      if (same) continue;
      await m.query(
        `UPDATE alert SET severity = $2, status = $3, opened_at_step = $4, resolved_at_step = $5, evidence = $6,
                updated_at = now(),
                resolved_at = CASE WHEN $3 = 'resolved' THEN coalesce(resolved_at, now()) END
          WHERE id = $1`,
        [row.id, next.severity, next.status, next.openedAtStep, next.resolvedAtStep, jsonb(next.evidence)],
      );
      if (next.status !== row.status)
        events.push({ alertId: row.id, change: next.status === 'open' ? 'opened' : 'resolved' });
      else if (next.severity !== row.severity) events.push({ alertId: row.id, change: 'severity' });
    }
    // Inserts of resolved episodes before open ones, for the same reason.
    inserts.sort((a, b) => Number(isOpen(a.episode)) - Number(isOpen(b.episode)));
    for (const { target, episode } of inserts) {
      const resolved = episode.resolvedAtStep !== null;
      const [{ id }]: { id: string }[] = await m.query(
        `INSERT INTO alert (run_id, project, target, kind, latent_index, direction_name, rule, severity, status,
                            opened_at_step, resolved_at_step, evidence, resolved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $9 = 'resolved' THEN now() END)
         RETURNING id`,
        [
          run.id,
          run.project,
          targetKey(target),
          target.kind,
          target.kind === 'latent' ? target.index : null,
          target.kind === 'direction' ? target.name : null,
          episode.rule,
          episode.severity,
          resolved ? 'resolved' : 'open',
          episode.openedAtStep,
          episode.resolvedAtStep,
          jsonb(episode.evidence),
        ],
      );
      // An episode that opened and resolved between two recomputes still tells subscribers both things.
      events.push({ alertId: id, change: 'opened' });
      if (resolved) events.push({ alertId: id, change: 'resolved' });
    }
    return this.writeEvents(m, events);
  }

  /** Outbox rows (with the alert as it is now) and a pending delivery for every matching webhook. */
  private async writeEvents(m: EntityManager, events: { alertId: string; change: AlertEvent['change'] }[]) {
    if (!events.length) return [];
    const rows: { id: string }[] = await m.query(
      `INSERT INTO alert_event (alert_id, run_id, project, change, payload)
       SELECT a.id, a.run_id, a.project, u.change, to_jsonb(a)
         FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS u(alert_id, change, ord)
         JOIN alert a ON a.id = u.alert_id
        ORDER BY u.ord
       RETURNING id`,
      [events.map((e) => e.alertId), events.map((e) => e.change)],
    );
    const ids = rows.map((r) => r.id);
    await m.query(
      `INSERT INTO webhook_delivery (webhook_id, event_id)
       SELECT w.id, e.id
         FROM alert_event e
         JOIN alert a ON a.id = e.alert_id
         JOIN webhook w ON w.project = e.project AND w.active
        WHERE e.id = ANY($1::bigint[])
          AND array_position(ARRAY['watch', 'warning', 'critical'], a.severity)
              >= array_position(ARRAY['watch', 'warning', 'critical'], w.min_severity)
       ON CONFLICT DO NOTHING`,
      [ids],
    );
    return ids.map((id) => BigInt(id));
  }

  /** The alerts feed, newest change first. The WHERE clause only names the filters given. */
  async list(filter: AlertFilter): Promise<AlertView[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.runId) add('run_id = ?', filter.runId);
    if (filter.project) add('project = ?', filter.project);
    if (filter.status) add('status = ?', filter.status);
    if (filter.severity) add('severity = ?', filter.severity);
    params.push(filter.limit);
    const rows: AlertRow[] = await this.dataSource.query(
      `SELECT ${ALERT_COLUMNS} FROM alert ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY updated_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return rows.map(alertView);
  }

  async forRun(runId: string): Promise<AlertView[]> {
    const rows: AlertRow[] = await this.dataSource.query(
      `SELECT ${ALERT_COLUMNS} FROM alert WHERE run_id = $1 ORDER BY opened_at_step, rule`,
      [runId],
    );
    return rows.map(alertView);
  }

  /**
   * Acknowledges an alert. The first acknowledgement is kept (idempotent) and is itself an alert change
   * (outbox event `acknowledged`). Null when there is no such alert.
   */
  async acknowledge(
    id: string,
    by: string | null,
    note: string | null,
  ): Promise<{ alert: AlertView; changed: boolean } | null> {
    return this.dataSource.transaction(async (m) => {
      // Through a CTE: TypeORM answers a bare UPDATE … RETURNING with [rows, count], a SELECT with rows.
      const updated: AlertRow[] = await m.query(
        `WITH u AS (
           UPDATE alert SET acknowledged_at = now(), acknowledged_by = $2, acknowledged_note = $3, updated_at = now()
            WHERE id = $1 AND acknowledged_at IS NULL RETURNING *)
         SELECT ${ALERT_COLUMNS} FROM u`,
        [id, by, note],
      );
      if (updated[0]) {
        await this.writeEvents(m, [{ alertId: id, change: 'acknowledged' }]);
        return { alert: alertView(updated[0]), changed: true };
      }
      const existing: AlertRow[] = await m.query(`SELECT ${ALERT_COLUMNS} FROM alert WHERE id = $1`, [id]);
      return existing[0] ? { alert: alertView(existing[0]), changed: false } : null;
    });
  }
}

function isOpen(episode: Episode | null): boolean {
  return episode !== null && episode.resolvedAtStep === null;
}

/** JSON as Postgres will store it (±Infinity and NaN become null), for writing and comparing evidence. */
function jsonb(value: unknown): string {
  return JSON.stringify(value);
}

/** Key-order-independent JSON, to compare evidence with what jsonb gave back (jsonb reorders keys). */
export function canonical(value: unknown): string {
  const normal = JSON.parse(JSON.stringify(value ?? null)) as unknown;
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(normal));
}
