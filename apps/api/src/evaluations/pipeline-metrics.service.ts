import { Injectable, Logger } from '@nestjs/common';
import { MetricsService } from '../../../../libs/common/src/index.js';
import { WorkQueueService } from '../../../../libs/messaging/src/index.js';
import { EvaluationsRepository } from './evaluations.repository.js';

/**
 * Gauges read at scrape time: the queue depth from the consumer and evaluations by status from Postgres.
 * (Latency and GFLOP/s are measured where they happen, in the workers.)
 */
@Injectable()
export class PipelineMetricsService {
  private readonly logger = new Logger(PipelineMetricsService.name);

  constructor(metrics: MetricsService, queue: WorkQueueService, evaluations: EvaluationsRepository) {
    const logger = this.logger;
    metrics.gauge('sentinel_queue_depth', 'Jobs in the work queue', ['state'], async function () {
      try {
        const { pending, inFlight } = await queue.depth();
        this.set({ state: 'pending' }, pending);
        this.set({ state: 'in_flight' }, inFlight);
      } catch (err) {
        logger.warn({ err }, 'queue depth unavailable');
      }
    });
    metrics.gauge('sentinel_evaluations', 'Evaluations by status', ['status'], async function () {
      try {
        for (const [status, n] of Object.entries(await evaluations.countByStatus())) this.set({ status }, n);
      } catch (err) {
        logger.warn({ err }, 'evaluation counts unavailable');
      }
    });
  }
}
