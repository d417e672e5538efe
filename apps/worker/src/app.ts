import 'reflect-metadata';
import { type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { requestIdMiddleware, type SentinelConfig } from '../../../libs/common/src/index.js';
import { WorkerModule } from './worker.module.js';

/** Builds the worker application (without starting it), shared by main.ts and the tests. */
export async function createWorkerApp(
  config: SentinelConfig,
  logger: LoggerService | false,
): Promise<INestApplication> {
  const app = await NestFactory.create(WorkerModule.forRoot(config), { logger });
  app.use(requestIdMiddleware);
  return app;
}
