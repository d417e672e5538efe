import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { AuthorizationError, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { SENTINEL_CONFIG } from '../../common/src/config/config.module.js';
import { type SentinelConfig } from '../../common/src/config/config.js';
import { type HealthProbe } from '../../common/src/health/health.service.js';
import { natsNames, type NatsNames } from './names.js';
import { natsInboxPrefix } from './nats-permissions.js';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const NATS_NAMES = Symbol('NATS_NAMES');

/** NATS_USER and NATS_PASSWORD. */
export interface NatsLogin {
  user: string;
  password: string;
}

/** The login of a configuration, when it has one. */
export function natsLoginOf(
  config: Pick<SentinelConfig, 'natsUser' | 'natsPassword'>,
): NatsLogin | undefined {
  return config.natsUser && config.natsPassword
    ? { user: config.natsUser, password: config.natsPassword }
    : undefined;
}

/**
 * Connects with unlimited reconnects: a NATS restart makes the app not ready, never dead. With a login,
 * replies come to `_INBOX.<user>.>`, the only inbox the user's permissions let it subscribe to. A login
 * the server refuses at start is an error that says so (the password never appears in it); refused on
 * a reconnect, the client keeps trying and readiness fails meanwhile.
 */
export async function connectNats(url: string, name: string, login?: NatsLogin): Promise<NatsConnection> {
  try {
    return await connect({
      servers: url,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5_000,
      ignoreAuthErrorAbort: true,
      ...(login ? { user: login.user, pass: login.password, inboxPrefix: natsInboxPrefix(login.user) } : {}),
    });
  } catch (err) {
    if (isAuthorizationError(err)) {
      const who = login
        ? `the login of NATS_USER "${login.user}" (check NATS_USER and NATS_PASSWORD)`
        : 'a connection without credentials (set NATS_USER and NATS_PASSWORD)';
      throw new Error(`NATS authorization failed: ${url} refused ${who}`, { cause: err });
    }
    throw err;
  }
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

/**
 * Readiness of NATS: a round trip to the server, which fails while the client is reconnecting; when the
 * server refused the login on the last attempt, the failure says so.
 */
@Injectable()
export class NatsHealthProbe implements HealthProbe {
  readonly name = 'nats';
  private refused?: string;

  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {
    void this.watch();
  }

  async check(): Promise<void> {
    if (this.nc.isClosed()) throw new Error('connection closed');
    if (this.refused) throw new Error(`NATS authorization failed on reconnect: ${this.refused}`);
    await this.nc.flush();
  }

  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'error' && isAuthorizationError(s.error)) this.refused = s.error.message;
      else if (s.type === 'reconnect') this.refused = undefined;
    }
  }
}

function isAuthorizationError(err: unknown): err is Error {
  return err instanceof AuthorizationError || (err as Error | undefined)?.name === 'AuthorizationError';
}

@Global()
@Module({
  providers: [
    {
      provide: NATS_CONNECTION,
      inject: [SENTINEL_CONFIG],
      useFactory: (config: SentinelConfig) =>
        connectNats(config.natsUrl, `sentinel-${process.pid}`, natsLoginOf(config)),
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
