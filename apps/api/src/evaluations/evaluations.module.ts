import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { ActivationsRetentionRepository } from './activations-retention.repository.js';
import { ActivationsRetentionService } from './activations-retention.service.js';
import { EvaluationsController } from './evaluations.controller.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { IngestService } from './ingest.service.js';
import { PipelineMetricsService } from './pipeline-metrics.service.js';
import { SweeperRepository } from './sweeper.repository.js';
import { SweeperService } from './sweeper.service.js';

/**
 * Upload of checkpoint activations, evaluation results, the sweeper that keeps the queue whole, and the
 * retention pass that deletes finished evaluations' activations.
 */
@Module({
  imports: [RunsModule],
  controllers: [EvaluationsController],
  providers: [
    EvaluationsRepository,
    IngestService,
    SweeperRepository,
    SweeperService,
    PipelineMetricsService,
    ActivationsRetentionRepository,
    ActivationsRetentionService,
  ],
  exports: [EvaluationsRepository, SweeperService, ActivationsRetentionService],
})
export class EvaluationsModule {}
