import { Module } from '@nestjs/common';
import { EarlyWarningModule, EarlyWarningService } from '../../../../libs/early-warning/src/index.js';
import { EngineService } from './engine.service.js';
import { EVALUATION_DONE_LISTENERS, type EvaluationDoneListener } from './evaluation-done.js';
import { EvaluationDoneDispatcher } from './evaluation-done.dispatcher.js';
import { EvaluationResultsRepository } from './evaluation-results.repository.js';
import { EvaluationProcessor } from './evaluation.processor.js';
import { SaeCacheService } from './sae-cache.service.js';

/** Running evaluations: the job handler, its repository, the encode backend and the SAE cache. */
@Module({
  imports: [EarlyWarningModule],
  controllers: [EvaluationProcessor],
  providers: [
    EvaluationResultsRepository,
    EngineService,
    SaeCacheService,
    EvaluationDoneDispatcher,
    {
      // Early warning runs after each commit; the processor only knows the listener interface.
      provide: EVALUATION_DONE_LISTENERS,
      inject: [EarlyWarningService],
      useFactory: (earlyWarning: EarlyWarningService): EvaluationDoneListener[] => [
        { name: 'early-warning', onEvaluationDone: (id) => earlyWarning.processEvaluation(id) },
      ],
    },
  ],
  exports: [SaeCacheService, EngineService, EvaluationDoneDispatcher],
})
export class WorkerEvaluationsModule {}
