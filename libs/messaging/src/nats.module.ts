import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { SENTINEL_CONFIG } from '../../common/src/config/config.module.js';
import { type SentinelConfig } from '../../common/src/config/config.js';
import { type HealthProbe } from '../../common/src/health/health.service.js';
import { natsNames, type NatsNames } from './names.js';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const NATS_NAMES = Symbol('NATS_NAMES');

/** Connects with unlimited reconnects: a NATS restart makes the app not ready, never dead. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5_000 });
}

/** JetStream handles over the app's one connection. */
@Injectable()
export class NatsClients implements OnApplicationShutdown {
  readonly js: JetStreamClient;
  private jsmPromise?: Promise<JetStreamManager>;

  constructor(@Inject(NATS_CONNECTION) readonly nc: NatsConnection) {
    this.js = jetstream(nc);
  }

  jsm(): Promise<JetStreamManager> {
    this.jsmPromise ??= jetstreamManager(this.nc);
    return this.jsmPromise;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Readiness of NATS: a round trip to the server, which fails while the client is reconnecting. */
@Injectable()
export class NatsHealthProbe implements HealthProbe {
  readonly name = 'nats';
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  async check(): Promise<void> {
    if (this.nc.isClosed()) throw new Error('connection closed');
    await this.nc.flush();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: NATS_CONNECTION,
      inject: [SENTINEL_CONFIG],
      useFactory: (config: SentinelConfig) => connectNats(config.natsUrl, `sentinel-${process.pid}`),
    },
    {
      provide: NATS_NAMES,
      inject: [SENTINEL_CONFIG],
      useFactory: (c: SentinelConfig): NatsNames => natsNames(c.natsPrefix),
    },
    NatsClients,
    NatsHealthProbe,
  ],
  exports: [NATS_CONNECTION, NATS_NAMES, NatsClients, NatsHealthProbe],
})
export class NatsModule {}
