import { Module } from '@nestjs/common';
import { EarlyWarningModule } from '../../../../libs/early-warning/src/index.js';
import { AlertStreamService } from './alert-stream.service.js';
import { AlertsController } from './alerts.controller.js';
import { EarlyWarningController } from './early-warning.controller.js';
import { EarlyWarningGrpcController } from './early-warning.grpc.controller.js';
import { WebhooksController } from './webhooks.controller.js';

/** Early warning over REST (trend, top latents, emerging latents, fleet drift, alerts, webhooks, SSE) and gRPC. */
@Module({
  imports: [EarlyWarningModule],
  controllers: [EarlyWarningController, AlertsController, WebhooksController, EarlyWarningGrpcController],
  providers: [AlertStreamService],
  exports: [AlertStreamService],
})
export class EarlyWarningApiModule {}
