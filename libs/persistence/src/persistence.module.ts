import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SENTINEL_CONFIG } from '../../common/src/config/config.module.js';
import { type SentinelConfig } from '../../common/src/config/config.js';
import { type HealthProbe } from '../../common/src/health/health.service.js';
import { createDataSource } from './data-source.js';

/** Readiness of Postgres: a trivial query through the app's pool. */
@Injectable()
export class DatabaseHealthProbe implements HealthProbe, OnApplicationShutdown {
  readonly name = 'postgres';
  constructor(private readonly dataSource: DataSource) {}

  async check(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/** The app's DataSource (see data-source.ts), closed on shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: DataSource,
      inject: [SENTINEL_CONFIG],
      useFactory: async (config: SentinelConfig) => {
        const dataSource = createDataSource(config.databaseUrl);
        await dataSource.initialize();
        return dataSource;
      },
    },
    DatabaseHealthProbe,
  ],
  exports: [DataSource, DatabaseHealthProbe],
})
export class PersistenceModule {}
