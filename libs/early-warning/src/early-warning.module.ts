import { Module } from '@nestjs/common';
import { AlertDispatcher } from './alert-dispatcher.service.js';
import { AlertsRepository } from './alerts.repository.js';
import { AnalysisRepository } from './analysis.repository.js';
import { EarlyWarningQueries } from './early-warning.queries.js';
import { EarlyWarningService } from './early-warning.service.js';
import { EARLY_WARNING_OPTIONS, earlyWarningOptions } from './options.js';
import { QueriesRepository } from './queries.repository.js';
import { WebhooksRepository } from './webhooks.repository.js';

/**
 * Early warning: statistics, detectors, alerts, their delivery (NATS, webhooks) and the queries over
 * them. Needs PersistenceModule, NatsModule and ConfigModule from the app (all global). The worker calls
 * EarlyWarningService.processEvaluation; the API serves EarlyWarningQueries over REST and gRPC.
 */
@Module({
  providers: [
    { provide: EARLY_WARNING_OPTIONS, useFactory: () => earlyWarningOptions(process.env) },
    EarlyWarningService,
    EarlyWarningQueries,
    AnalysisRepository,
    AlertsRepository,
    QueriesRepository,
    WebhooksRepository,
    AlertDispatcher,
  ],
  exports: [
    EarlyWarningService,
    EarlyWarningQueries,
    WebhooksRepository,
    AlertDispatcher,
    EARLY_WARNING_OPTIONS,
  ],
})
export class EarlyWarningModule {}
