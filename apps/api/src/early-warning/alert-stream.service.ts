import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { filter, type Observable, Subject } from 'rxjs';
import { type NatsNames } from '../../../../libs/messaging/src/names.js';
import { NATS_CONNECTION, NATS_NAMES } from '../../../../libs/messaging/src/nats.module.js';
import { type AlertEvent } from '../../../../libs/early-warning/src/index.js';

/**
 * Alert changes as they happen, from a NATS subscription on `<prefix>.alerts.>`: every API replica sees
 * every change, whichever process (worker or API) committed it. Feeds the SSE stream and gRPC WatchAlerts.
 */
@Injectable()
export class AlertStreamService implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('AlertStream');
  private readonly events = new Subject<AlertEvent>();
  private sub?: Subscription;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NATS_NAMES) private readonly names: NatsNames,
  ) {}

  onModuleInit(): void {
    this.sub = this.nc.subscribe(this.names.alertsWildcard, {
      callback: (err, msg) => {
        if (err) return this.log.warn({ err: err.message }, 'alert subscription error');
        try {
          this.events.next(msg.json<AlertEvent>());
        } catch {
          this.log.warn({ subject: msg.subject }, 'ignoring a malformed alert event');
        }
      },
    });
  }

  onModuleDestroy(): void {
    this.sub?.unsubscribe();
    this.events.complete();
  }

  /** Resolves once the subscription is registered with the server (tests wait on it before publishing). */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  watch(filters: { project?: string; runId?: string }): Observable<AlertEvent> {
    return this.events.pipe(
      filter(
        (e) =>
          (!filters.project || e.alert.project === filters.project) &&
          (!filters.runId || e.alert.runId === filters.runId),
      ),
    );
  }
}
