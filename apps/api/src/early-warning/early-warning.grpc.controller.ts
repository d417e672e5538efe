import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { map, type Observable } from 'rxjs';
import {
  type AlertView,
  EarlyWarningQueries,
  type FleetDriftQuery,
  type Severity,
} from '../../../../libs/early-warning/src/index.js';
import { AlertStreamService } from './alert-stream.service.js';
import { rpc } from './errors.js';

/** An Alert message: the REST object with `evidence` carried as JSON text. */
export function alertMessage(alert: AlertView): Record<string, unknown> {
  const { evidence, ...rest } = alert;
  return { ...rest, evidenceJson: JSON.stringify(evidence) };
}

/**
 * gRPC service sentinel.v1.EarlyWarning (proto/sentinel/v1/early_warning.proto): the REST queries with
 * the same semantics, through the same EarlyWarningQueries. Fields use proto-loader's camelCase.
 */
@Controller()
export class EarlyWarningGrpcController {
  constructor(
    private readonly queries: EarlyWarningQueries,
    private readonly stream: AlertStreamService,
  ) {}

  @GrpcMethod('EarlyWarning', 'GetRunTrend')
  async getRunTrend(req: { runId: string }) {
    const trend = await rpc(() => this.queries.runTrend(req.runId));
    return { ...trend, series: trend.series.map((s) => ({ ...s, alerts: s.alerts.map(alertMessage) })) };
  }

  @GrpcMethod('EarlyWarning', 'GetTopLatents')
  getTopLatents(req: { runId: string; step?: number }) {
    return rpc(() => this.queries.topLatents(req.runId, req.step ?? undefined));
  }

  @GrpcMethod('EarlyWarning', 'GetEmergingLatents')
  getEmergingLatents(req: { project: string; minRuns?: number; limit?: number }) {
    return rpc(() => this.queries.emergingLatents(req.project, req.minRuns ?? 2, req.limit ?? 50));
  }

  @GrpcMethod('EarlyWarning', 'GetFleetDrift')
  getFleetDrift(req: FleetDriftQuery) {
    return rpc(() => this.queries.fleetDrift(req));
  }

  @GrpcMethod('EarlyWarning', 'ListAlerts')
  async listAlerts(req: {
    runId?: string;
    project?: string;
    status?: string;
    severity?: string;
    limit?: number;
  }) {
    const alerts = await rpc(() =>
      this.queries.listAlerts({
        runId: req.runId || undefined,
        project: req.project || undefined,
        status: (req.status || undefined) as 'open' | 'resolved' | undefined,
        severity: (req.severity || undefined) as Severity | undefined,
        limit: req.limit,
      }),
    );
    return { alerts: alerts.map(alertMessage) };
  }

  @GrpcMethod('EarlyWarning', 'AcknowledgeAlert')
  async acknowledgeAlert(req: { id: string; by?: string; note?: string }) {
    return alertMessage(await rpc(() => this.queries.acknowledge(req.id, req.by, req.note)));
  }

  @GrpcMethod('EarlyWarning', 'WatchAlerts')
  watchAlerts(req: { project?: string; runId?: string }): Observable<Record<string, unknown>> {
    return this.stream
      .watch({ project: req.project || undefined, runId: req.runId || undefined })
      .pipe(map((e) => ({ eventId: e.eventId, change: e.change, alert: alertMessage(e.alert) })));
  }
}
