import 'reflect-metadata';
import { type INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { type LoggerService } from '@nestjs/common';
import { requestIdMiddleware, type SentinelConfig } from '../../../libs/common/src/index.js';
import { ApiModule } from './api.module.js';
import { HttpErrorsFilter } from './http/http-errors.filter.js';

/**
 * Builds the API application (without listening), so that main.ts and the integration tests start
 * exactly the same thing.
 */
export async function createApiApp(
  config: SentinelConfig,
  logger: LoggerService | false,
): Promise<INestApplication> {
  const app = await NestFactory.create(ApiModule.forRoot(config), { logger, bodyParser: true });
  app.use(requestIdMiddleware);
  // Every error is {statusCode, error, message} JSON; unknown or misspelt body fields are refused by name.
  app.useGlobalFilters(new HttpErrorsFilter());
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
    }),
  );
  const openApi = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Sentinel API')
      .setDescription('Early warning of emergent misalignment during fine-tuning, from SAE latents.')
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, openApi, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
