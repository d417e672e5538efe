import { type DynamicModule, Module } from '@nestjs/common';
import {
  ConfigModule,
  HealthModule,
  MetricsModule,
  type SentinelConfig,
} from '../../../libs/common/src/index.js';
import { NatsHealthProbe, NatsModule, WorkQueueModule } from '../../../libs/messaging/src/index.js';
import { DatabaseHealthProbe, PersistenceModule } from '../../../libs/persistence/src/index.js';
import { WorkerEvaluationsModule } from './evaluations/evaluations.module.js';

/** The worker: consumes evaluation jobs from JetStream and runs the SAE engine; HTTP only for health. */
@Module({})
export class WorkerModule {
  static forRoot(config: SentinelConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        PersistenceModule,
        NatsModule,
        HealthModule.forProbes([DatabaseHealthProbe, NatsHealthProbe]),
        MetricsModule,
        WorkQueueModule,
        WorkerEvaluationsModule,
      ],
    };
  }
}
