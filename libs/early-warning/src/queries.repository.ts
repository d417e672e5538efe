import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Target } from './detectors.js';
import { type Severity } from './rules.js';
import {
  type DriftStatus,
  type EmergingLatents,
  finiteOrNull,
  type FleetDrift,
  type FleetDriftRow,
  type TopLatents,
  type TrendPoint,
  targetView,
} from './views.js';

export const FLEET_SORTS = ['delta', 'z', 't', 'p', 'step', 'cusum', 'status'] as const;
export type FleetSort = (typeof FLEET_SORTS)[number];

export interface FleetFilter {
  target: Target;
  targetKey: string;
  project?: string;
  model?: string;
  /** Runs created at or after this instant. */
  since?: Date;
  sort: FleetSort;
  order: 'asc' | 'desc';
  limit: number;
}

/**
 * The read side: a run's trend, its rising latents, a project's emerging latents and the fleet's drift.
 * Each is one SQL statement over indexes made for it (see docs/benchmarks.md for their plans).
 */
@Injectable()
export class QueriesRepository {
  constructor(private readonly dataSource: DataSource) {}

  async runExists(runId: string): Promise<{ id: string; sae_id: string; project: string } | null> {
    const rows: { id: string; sae_id: string; project: string }[] = await this.dataSource.query(
      `SELECT id, sae_id, project FROM run WHERE id = $1`,
      [runId],
    );
    return rows[0] ?? null;
  }

  /**
   * What the trend needs besides its points, in one round trip: the run, its SAE's latent labels and the
   * baseline checkpoint the stored statistics were computed against.
   */
  async trendContext(runId: string): Promise<{
    saeId: string;
    labels: Map<number, string>;
    baseline: { runId: string; step: number } | null;
  } | null> {
    const rows: {
      sae_id: string;
      labels: Record<string, string> | null;
      baseline: { runId: string; step: number } | null;
    }[] = await this.dataSource.query(
      `SELECT r.sae_id,
              (SELECT json_object_agg(w.latent_index, w.label) FROM watchlist_latent w WHERE w.sae_id = r.sae_id)
                AS labels,
              (SELECT json_build_object('runId', e.run_id, 'step', e.step)
                 FROM evaluation_target_stat s JOIN evaluation e ON e.id = s.baseline_evaluation_id
                WHERE s.run_id = r.id LIMIT 1) AS baseline
         FROM run r WHERE r.id = $1`,
      [runId],
    );
    if (!rows[0]) return null;
    const labels = new Map(Object.entries(rows[0].labels ?? {}).map(([k, v]) => [Number(k), v]));
    return { saeId: rows[0].sae_id, labels, baseline: rows[0].baseline };
  }

  /**
   * Trend: every stored checkpoint statistic of the run, by target then step — one range of the index
   * (run_id, target, step). Only the per-point columns travel; kind, index and name come from the key.
   */
  async trendPoints(runId: string): Promise<{ target: string; points: TrendPoint[] }[]> {
    const rows: {
      target: string;
      step: number;
      mean: number;
      delta: number;
      se: number | null;
      t: number | null;
      p: number | null;
      z: number | null;
      cusum: number;
    }[] = await this.dataSource.query(
      `SELECT target, step, mean, delta, se, t, p, z, cusum
         FROM evaluation_target_stat
        WHERE run_id = $1
        ORDER BY target, step`,
      [runId],
    );
    const out: { target: string; points: TrendPoint[] }[] = [];
    for (const r of rows) {
      let series = out[out.length - 1];
      if (!series || series.target !== r.target) {
        series = { target: r.target, points: [] };
        out.push(series);
      }
      series.points.push({
        step: r.step,
        mean: r.mean,
        delta: r.delta,
        se: finiteOrNull(r.se),
        t: finiteOrNull(r.t),
        p: finiteOrNull(r.p),
        z: finiteOrNull(r.z),
        cusum: r.cusum,
      });
    }
    return out;
  }

  /** The rising latents of one evaluation of the run: the given step, or the latest step that has them. */
  async topLatents(runId: string, saeId: string, step?: number): Promise<TopLatents | null> {
    const rows: {
      step: number;
      latent_index: number;
      mean: number;
      baseline_mean: number;
      delta: number;
      label: string | null;
    }[] = await this.dataSource.query(
      `SELECT x.step, x.latent_index, x.mean, x.baseline_mean, x.delta, w.label
         FROM evaluation_rising_latent x
         LEFT JOIN watchlist_latent w ON w.sae_id = $2 AND w.latent_index = x.latent_index
        WHERE x.run_id = $1
          AND x.step = coalesce($3::int, (SELECT max(step) FROM evaluation_rising_latent WHERE run_id = $1))
        ORDER BY x.rank`,
      [runId, saeId, step ?? null],
    );
    if (!rows.length) return null;
    return {
      runId,
      step: rows[0].step,
      latents: rows.map((r) => ({
        index: r.latent_index,
        ...(r.label !== null ? { label: r.label } : {}),
        mean: r.mean,
        baselineMean: r.baseline_mean,
        delta: r.delta,
      })),
    };
  }

  /**
   * Emerging latents of a project: for each run, its latest evaluation's rising top-k; a latent counts
   * once per run it rose in. Latents are grouped per SAE, since indexes mean nothing across SAEs.
   */
  async emergingLatents(project: string, minRuns: number, limit: number): Promise<EmergingLatents> {
    const rows: {
      sae_id: string;
      latent_index: number;
      label: string | null;
      runs: number;
      mean_delta: number;
      max_delta: number;
      mean_rank: number;
      runs_considered: number;
    }[] = await this.dataSource.query(
      `WITH latest AS (
         SELECT r.id AS run_id, r.sae_id, last.step
           FROM run r
           CROSS JOIN LATERAL (SELECT x.step FROM evaluation_rising_latent x
                                WHERE x.run_id = r.id ORDER BY x.step DESC LIMIT 1) last
          WHERE r.project = $1)
       SELECT l.sae_id, x.latent_index, w.label, count(*)::int AS runs, avg(x.delta) AS mean_delta,
              max(x.delta) AS max_delta, avg(x.rank)::float8 AS mean_rank,
              (SELECT count(*) FROM latest)::int AS runs_considered
         FROM latest l
         JOIN evaluation_rising_latent x ON x.run_id = l.run_id AND x.step = l.step
         LEFT JOIN watchlist_latent w ON w.sae_id = l.sae_id AND w.latent_index = x.latent_index
        GROUP BY l.sae_id, x.latent_index, w.label
       HAVING count(*) >= $2
        ORDER BY runs DESC, mean_delta DESC, x.latent_index
        LIMIT $3`,
      [project, minRuns, limit],
    );
    const considered = rows[0]?.runs_considered ?? (await this.runsWithRising(project));
    return {
      project,
      runsConsidered: considered,
      latents: rows.map((r) => ({
        saeId: r.sae_id,
        index: r.latent_index,
        ...(r.label !== null ? { label: r.label } : {}),
        runs: r.runs,
        meanDelta: r.mean_delta,
        maxDelta: r.max_delta,
        meanRank: r.mean_rank,
      })),
    };
  }

  private async runsWithRising(project: string): Promise<number> {
    const [row]: { n: number }[] = await this.dataSource.query(
      `SELECT count(DISTINCT x.run_id)::int AS n FROM evaluation_rising_latent x JOIN run r ON r.id = x.run_id
        WHERE r.project = $1`,
      [project],
    );
    return row.n;
  }

  /**
   * Fleet drift: each run's latest statistic of one target and its worst open alert on it. One index
   * probe per run (evaluation_target_stat_run_idx, backwards) instead of scanning the target's history.
   */
  async fleetDrift(filter: FleetFilter): Promise<FleetDrift> {
    const where: string[] = [];
    const params: unknown[] = [filter.targetKey];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.project) add('r.project = ?', filter.project);
    if (filter.model) add('r.model = ?', filter.model);
    if (filter.since) add('r.created_at >= ?', filter.since);
    params.push(filter.limit);
    const sortSql: Record<FleetSort, string> = {
      delta: 's.delta',
      z: 's.z',
      t: 's.t',
      p: 's.p',
      step: 's.step',
      cusum: 's.cusum',
      status: 'coalesce(a.worst, 0)',
    };
    const dir = filter.order === 'asc' ? 'ASC' : 'DESC';
    const rows: {
      run_id: string;
      name: string;
      project: string;
      model: string;
      step: number;
      mean: number;
      delta: number;
      t: number | null;
      p: number | null;
      z: number | null;
      cusum: number;
      worst: number | null;
      open_alerts: number | null;
    }[] = await this.dataSource.query(
      `SELECT r.id AS run_id, r.name, r.project, r.model, s.step, s.mean, s.delta, s.t, s.p, s.z, s.cusum,
              a.worst, a.open_alerts
         FROM run r
         CROSS JOIN LATERAL (
           SELECT step, mean, delta, t, p, z, cusum FROM evaluation_target_stat
            WHERE run_id = r.id AND target = $1 ORDER BY step DESC LIMIT 1) s
         LEFT JOIN LATERAL (
           SELECT max(array_position(ARRAY['watch', 'warning', 'critical'], severity)) AS worst,
                  count(*)::int AS open_alerts
             FROM alert WHERE run_id = r.id AND target = $1 AND status = 'open') a ON true
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${sortSql[filter.sort]} ${dir} NULLS LAST, r.id
        LIMIT $${params.length}`,
      params,
    );
    const status = (worst: number | null): DriftStatus =>
      worst ? (['watch', 'warning', 'critical'] as Severity[])[worst - 1] : 'ok';
    const runs: FleetDriftRow[] = rows.map((r) => ({
      runId: r.run_id,
      runName: r.name,
      project: r.project,
      model: r.model,
      step: r.step,
      mean: r.mean,
      delta: r.delta,
      t: finiteOrNull(r.t),
      p: finiteOrNull(r.p),
      z: finiteOrNull(r.z),
      cusum: r.cusum,
      status: status(r.worst),
      openAlerts: r.open_alerts ?? 0,
    }));
    return {
      target: targetView(filter.target.kind, filter.target.index ?? null, filter.target.name ?? null),
      sort: filter.sort,
      order: filter.order,
      runs,
    };
  }
}
