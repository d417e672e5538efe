import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type SentinelConfig } from './config.js';

/** Injection token for the validated SentinelConfig. */
export const SENTINEL_CONFIG = Symbol('SENTINEL_CONFIG');

/**
 * Provides the configuration that main.ts validated before Nest started (so a bad variable stops the
 * process before anything connects), or that a test built with loadConfig({...}).
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: SentinelConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: SENTINEL_CONFIG, useValue: config }],
      exports: [SENTINEL_CONFIG],
    };
  }
}
