import { Body, Controller, Get, HttpCode, Param, Post, Query, Sse, type MessageEvent } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { interval, map, merge, type Observable } from 'rxjs';
import {
  type AlertView,
  EarlyWarningQueries,
  type Severity,
} from '../../../../libs/early-warning/src/index.js';
import { AlertStreamService } from './alert-stream.service.js';
import { AcknowledgeAlertDto } from './alerts.dto.js';
import { http, optionalInt } from './errors.js';

/** Keeps idle SSE connections open through proxies that close silent ones. */
const HEARTBEAT_MS = 15_000;

@ApiTags('alerts')
@Controller('v1/alerts')
export class AlertsController {
  constructor(
    private readonly queries: EarlyWarningQueries,
    private readonly stream: AlertStreamService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Alerts, most recently changed first' })
  @ApiQuery({ name: 'runId', required: false })
  @ApiQuery({ name: 'project', required: false })
  @ApiQuery({ name: 'status', required: false, enum: ['open', 'resolved'] })
  @ApiQuery({ name: 'severity', required: false, enum: ['watch', 'warning', 'critical'] })
  @ApiQuery({ name: 'limit', required: false })
  async list(
    @Query('runId') runId?: string,
    @Query('project') project?: string,
    @Query('status') status?: string,
    @Query('severity') severity?: string,
    @Query('limit') limit?: string,
  ): Promise<{ alerts: AlertView[] }> {
    const alerts = await http(() =>
      this.queries.listAlerts({
        runId: runId || undefined,
        project: project || undefined,
        status: (status || undefined) as 'open' | 'resolved' | undefined,
        severity: (severity || undefined) as Severity | undefined,
        limit: optionalInt('limit', limit),
      }),
    );
    return { alerts };
  }

  /** Server-Sent Events: one `alert` event per change, data `{eventId, change, alert}`, id = eventId. */
  @Sse('stream')
  @ApiOperation({ summary: 'Live alert changes (Server-Sent Events)' })
  @ApiQuery({ name: 'project', required: false })
  @ApiQuery({ name: 'runId', required: false })
  streamAlerts(@Query('project') project?: string, @Query('runId') runId?: string): Observable<MessageEvent> {
    const changes = this.stream
      .watch({ project: project || undefined, runId: runId || undefined })
      .pipe(map((e): MessageEvent => ({ type: 'alert', id: e.eventId, data: e })));
    const heartbeat = interval(HEARTBEAT_MS).pipe(
      map((): MessageEvent => ({ type: 'heartbeat', data: { at: new Date().toISOString() } })),
    );
    return merge(changes, heartbeat);
  }

  @Post(':id/ack')
  @HttpCode(200)
  @ApiOperation({ summary: 'Acknowledge an alert (the first acknowledgement is kept)' })
  ack(@Param('id') id: string, @Body() body: AcknowledgeAlertDto): Promise<AlertView> {
    return http(() => this.queries.acknowledge(id, body.by, body.note));
  }
}
