import { Injectable } from '@nestjs/common';
import { AlertDispatcher } from './alert-dispatcher.service.js';
import { type AlertFilter, AlertsRepository } from './alerts.repository.js';
import { parseTargetKey, type Target, targetKey } from './detectors.js';
import { type FleetSort, QueriesRepository } from './queries.repository.js';
import {
  type AlertView,
  type EmergingLatents,
  type FleetDrift,
  type RunTrend,
  type TopLatents,
  type TrendSeries,
} from './views.js';

/** A query that names something that does not exist (→ 404), or asks for something invalid (→ 400). */
export class QueryError extends Error {
  constructor(
    readonly kind: 'not_found' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/** Fleet drift's parameters as both transports receive them (strings unparsed, everything but the target optional). */
export interface FleetDriftQuery {
  target: string;
  project?: string;
  model?: string;
  since?: string;
  sort?: string;
  order?: string;
  limit?: number;
}

/**
 * The queries of early warning, with the semantics REST and gRPC share: both transports call these and
 * only translate errors and encodings.
 */
@Injectable()
export class EarlyWarningQueries {
  constructor(
    private readonly queries: QueriesRepository,
    private readonly alerts: AlertsRepository,
    private readonly dispatcher: AlertDispatcher,
  ) {}

  async runTrend(runId: string): Promise<RunTrend> {
    // Two round trips: the context (run, labels, baseline), then points and alerts side by side.
    const context = UUID.test(runId) ? await this.queries.trendContext(runId) : null;
    if (!context) throw new QueryError('not_found', `run ${runId} not found`);
    const { labels, baseline } = context;
    const [points, alerts] = await Promise.all([this.queries.trendPoints(runId), this.alerts.forRun(runId)]);
    const series: TrendSeries[] = [];
    for (const s of points) {
      const target = parseTargetKey(s.target);
      if (!target) continue;
      series.push({
        ...target,
        label:
          target.kind === 'latent' ? (labels.get(target.index!) ?? `latent ${target.index}`) : target.name!,
        points: s.points,
        alerts: alerts.filter((a) => targetKey(a.target as Target) === s.target),
      });
    }
    // Latents by index, then directions by name: a stable order for charts and for comparing transports.
    series.sort((a, b) =>
      a.kind !== b.kind
        ? a.kind === 'latent'
          ? -1
          : 1
        : a.kind === 'latent'
          ? a.index! - b.index!
          : a.name! < b.name!
            ? -1
            : 1,
    );
    return { runId, baseline, series };
  }

  async topLatents(runId: string, step?: number): Promise<TopLatents> {
    const run = await this.requireRun(runId);
    const top = await this.queries.topLatents(runId, run.sae_id, step);
    if (!top) {
      throw new QueryError(
        'not_found',
        step === undefined
          ? `run ${runId} has no evaluation with rising latents yet`
          : `run ${runId} has no rising latents at step ${step}`,
      );
    }
    return top;
  }

  emergingLatents(project: string, minRuns = 2, limit = 50): Promise<EmergingLatents> {
    if (!(minRuns >= 1)) throw new QueryError('invalid', 'minRuns must be at least 1');
    return this.queries.emergingLatents(project, minRuns, Math.min(Math.max(limit, 1), 1000));
  }

  fleetDrift(input: FleetDriftQuery): Promise<FleetDrift> {
    const target = parseTargetKey(input.target ?? '');
    if (!target) throw new QueryError('invalid', 'target must be latent:<index> or direction:<name>');
    let since: Date | undefined;
    if (input.since) {
      since = new Date(input.since);
      if (Number.isNaN(since.getTime()))
        throw new QueryError('invalid', 'since must be an ISO 8601 timestamp');
    }
    const sort = (input.sort || 'delta') as FleetSort;
    if (!['delta', 'z', 't', 'p', 'step', 'cusum', 'status'].includes(sort)) {
      throw new QueryError('invalid', 'sort must be one of delta, z, t, p, step, cusum, status');
    }
    const order = input.order || (sort === 'p' ? 'asc' : 'desc');
    if (order !== 'asc' && order !== 'desc') throw new QueryError('invalid', 'order must be asc or desc');
    return this.queries.fleetDrift({
      target,
      targetKey: targetKey(target),
      project: input.project || undefined,
      model: input.model || undefined,
      since,
      sort,
      order,
      limit: Math.min(Math.max(input.limit || 1000, 1), 10_000),
    });
  }

  listAlerts(filter: Partial<AlertFilter>): Promise<AlertView[]> {
    if (filter.status && !['open', 'resolved'].includes(filter.status)) {
      throw new QueryError('invalid', 'status must be open or resolved');
    }
    if (filter.severity && !['watch', 'warning', 'critical'].includes(filter.severity)) {
      throw new QueryError('invalid', 'severity must be watch, warning or critical');
    }
    if (filter.runId && !UUID.test(filter.runId)) throw new QueryError('invalid', 'runId must be a UUID');
    return this.alerts.list({ ...filter, limit: Math.min(Math.max(filter.limit || 100, 1), 1000) });
  }

  async acknowledge(id: string, by?: string, note?: string): Promise<AlertView> {
    if (!UUID.test(id)) throw new QueryError('not_found', `alert ${id} not found`);
    const result = await this.alerts.acknowledge(id, by ?? null, note ?? null);
    if (!result) throw new QueryError('not_found', `alert ${id} not found`);
    if (result.changed) await this.dispatcher.afterCommit();
    return result.alert;
  }

  private async requireRun(runId: string) {
    const run = UUID.test(runId) ? await this.queries.runExists(runId) : null;
    if (!run) throw new QueryError('not_found', `run ${runId} not found`);
    return run;
  }
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
