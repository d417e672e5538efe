import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  EarlyWarningQueries,
  type EmergingLatents,
  type FleetDrift,
  type RunTrend,
  type TopLatents,
} from '../../../../libs/early-warning/src/index.js';
import { http, optionalInt } from './errors.js';

/** Trends of a run, its rising latents, a project's emerging latents, and fleet-wide drift. */
@ApiTags('early warning')
@Controller('v1')
export class EarlyWarningController {
  constructor(private readonly queries: EarlyWarningQueries) {}

  @Get('runs/:runId/trend')
  @ApiOperation({ summary: 'Per-checkpoint statistics of every watched latent and direction, with alerts' })
  trend(@Param('runId') runId: string): Promise<RunTrend> {
    return http(() => this.queries.runTrend(runId));
  }

  @Get('runs/:runId/top-latents')
  @ApiOperation({ summary: 'Latents that rose most over the baseline at a step (default: the latest)' })
  @ApiQuery({ name: 'step', required: false })
  topLatents(@Param('runId') runId: string, @Query('step') step?: string): Promise<TopLatents> {
    return http(() => this.queries.topLatents(runId, optionalInt('step', step)));
  }

  @Get('projects/:project/emerging-latents')
  @ApiOperation({ summary: "Latents in many runs' rising top-k (latest evaluation of each run)" })
  @ApiQuery({ name: 'minRuns', required: false })
  @ApiQuery({ name: 'limit', required: false })
  emerging(
    @Param('project') project: string,
    @Query('minRuns') minRuns?: string,
    @Query('limit') limit?: string,
  ): Promise<EmergingLatents> {
    return http(() =>
      this.queries.emergingLatents(project, optionalInt('minRuns', minRuns), optionalInt('limit', limit)),
    );
  }

  @Get('fleet/drift')
  @ApiOperation({ summary: "Every run's latest delta, statistics and alert status for one target" })
  @ApiQuery({ name: 'target', example: 'latent:10' })
  @ApiQuery({ name: 'project', required: false })
  @ApiQuery({ name: 'model', required: false })
  @ApiQuery({ name: 'since', required: false, description: 'ISO 8601; runs created at or after' })
  @ApiQuery({ name: 'sort', required: false, enum: ['delta', 'z', 't', 'p', 'step', 'cusum', 'status'] })
  @ApiQuery({ name: 'order', required: false, enum: ['asc', 'desc'] })
  @ApiQuery({ name: 'limit', required: false })
  fleetDrift(
    @Query('target') target: string,
    @Query('project') project?: string,
    @Query('model') model?: string,
    @Query('since') since?: string,
    @Query('sort') sort?: string,
    @Query('order') order?: string,
    @Query('limit') limit?: string,
  ): Promise<FleetDrift> {
    return http(() =>
      this.queries.fleetDrift({
        target,
        project,
        model,
        since,
        sort,
        order,
        limit: optionalInt('limit', limit),
      }),
    );
  }
}
