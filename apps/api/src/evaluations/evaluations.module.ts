import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { EvaluationsController } from './evaluations.controller.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { IngestService } from './ingest.service.js';
import { PipelineMetricsService } from './pipeline-metrics.service.js';
import { SweeperRepository } from './sweeper.repository.js';
import { SweeperService } from './sweeper.service.js';

/** Upload of checkpoint activations, evaluation results, and the sweeper that keeps the queue whole. */
@Module({
  imports: [RunsModule],
  controllers: [EvaluationsController],
  providers: [
    EvaluationsRepository,
    IngestService,
    SweeperRepository,
    SweeperService,
    PipelineMetricsService,
  ],
  exports: [EvaluationsRepository, SweeperService],
})
export class EvaluationsModule {}
