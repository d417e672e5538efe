import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, HealthModule, type SentinelConfig } from '../../../libs/common/src/index.js';
import { NatsHealthProbe, NatsModule } from '../../../libs/messaging/src/index.js';
import { DatabaseHealthProbe, PersistenceModule } from '../../../libs/persistence/src/index.js';

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
      ],
    };
  }
}
