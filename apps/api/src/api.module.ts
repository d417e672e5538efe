import { type DynamicModule, Module } from '@nestjs/common';
import {
  ConfigModule,
  HealthModule,
  MetricsModule,
  type SentinelConfig,
} from '../../../libs/common/src/index.js';
import { NatsHealthProbe, NatsModule, WorkQueueModule } from '../../../libs/messaging/src/index.js';
import { DatabaseHealthProbe, PersistenceModule } from '../../../libs/persistence/src/index.js';
import { AuthModule } from './auth/auth.module.js';
import { EvaluationsModule } from './evaluations/evaluations.module.js';
import { RunsModule } from './runs/runs.module.js';
import { SaesModule } from './saes/saes.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { EarlyWarningApiModule } from './early-warning/early-warning-api.module.js';

/** The API: REST (and the dashboard) over HTTP, gRPC on its own port. Feature modules are listed here. */
@Module({})
export class ApiModule {
  static forRoot(config: SentinelConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        PersistenceModule,
        NatsModule,
        HealthModule.forProbes([DatabaseHealthProbe, NatsHealthProbe]),
        MetricsModule,
        AuthModule,
        WorkQueueModule,
        SaesModule,
        RunsModule,
        EvaluationsModule,
        DashboardModule,
        EarlyWarningApiModule,
      ],
    };
  }
}
