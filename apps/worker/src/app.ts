import 'reflect-metadata';
import { type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthService, requestIdMiddleware, type SentinelConfig } from '../../../libs/common/src/index.js';
import { NATS_NAMES, NatsClients, type NatsNames } from '../../../libs/messaging/src/index.js';
import { EvaluationDoneDispatcher } from './evaluations/evaluation-done.dispatcher.js';
import { EVALUATE } from './evaluations/evaluation.processor.js';
import { JetStreamWorkQueueServer } from './transport/jetstream-work-queue.server.js';
import { WorkerModule } from './worker.module.js';

/**
 * Builds the worker application, shared by main.ts and the tests: an HTTP app for /healthz, /readyz and
 * /metrics, with the JetStream work-queue transport connected as a microservice. It is initialised and
 * consuming when this returns; call `listen` for the HTTP port.
 */
export async function createWorkerApp(
  config: SentinelConfig,
  logger: LoggerService | false,
): Promise<INestApplication> {
  const app = await NestFactory.create(WorkerModule.forRoot(config), { logger });
  app.use(requestIdMiddleware);
  const names = app.get<NatsNames>(NATS_NAMES);
  const health = app.get(HealthService);
  const strategy = new JetStreamWorkQueueServer({
    js: app.get(NatsClients).js,
    stream: names.jobsStream,
    consumer: names.workersConsumer,
    pattern: EVALUATE,
    concurrency: config.workerConcurrency,
    ackWaitMs: config.ackWaitMs,
    maxDeliver: config.maxDeliver,
    afterDrain: () => app.get(EvaluationDoneDispatcher).drain(),
    // After an outage hit a job: Postgres and NATS answer again (the readiness probes; draining aside).
    ready: async () =>
      Object.entries((await health.readiness()).checks).every(([name, c]) => name === 'shutdown' || c.ok),
  });
  app.connectMicroservice({ strategy }, { inheritAppConfig: true });
  // init first: it creates the stream, the consumer and the buckets the transport pulls from.
  await app.init();
  await app.startAllMicroservices();
  return app;
}
