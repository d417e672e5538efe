import 'reflect-metadata';
import { type INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
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
  // Security headers. The dashboard and Swagger UI load only their own scripts; uPlot and Swagger set
  // inline styles, and a local http:// deployment must not be told to upgrade its requests to https.
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
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
