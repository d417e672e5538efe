import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { HealthController } from './health.controller.js';
import { HEALTH_PROBES, type HealthProbe, HealthService } from './health.service.js';

/** `/healthz` and `/readyz` over the given probes (each an injectable provided elsewhere in the app). */
@Module({})
export class HealthModule {
  static forProbes(probes: Type<HealthProbe>[]): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthController],
      providers: [
        { provide: HEALTH_PROBES, inject: probes, useFactory: (...instances: HealthProbe[]) => instances },
        HealthService,
      ],
      exports: [HealthService],
    };
  }
}
