import { Module } from '@nestjs/common';
import { EarlyWarningService } from './early-warning.service.js';

/**
 * Early warning: statistics, detectors, alerts, their delivery (NATS, webhooks) and the queries over
 * them. Needs PersistenceModule, NatsModule and ConfigModule from the app (all global).
 */
@Module({
  providers: [EarlyWarningService],
  exports: [EarlyWarningService],
})
export class EarlyWarningModule {}
