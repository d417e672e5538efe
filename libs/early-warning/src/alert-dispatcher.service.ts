import { createHmac } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type NatsNames } from '../../messaging/src/names.js';
import { NatsClients, NATS_NAMES } from '../../messaging/src/nats.module.js';
import { EARLY_WARNING_OPTIONS, type EarlyWarningOptions } from './options.js';
import { type AlertEvent, type AlertRow, alertView } from './views.js';

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what a receiver recomputes to trust a webhook call. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Delay before retry number `attempt` (1 = the first retry): base × 2^(attempt−1), at most an hour. */
export function backoffMs(baseMs: number, attempt: number): number {
  return Math.min(3_600_000, baseMs * 2 ** Math.max(0, attempt - 1));
}

interface DueDelivery {
  id: string;
  attempts: number;
  url: string;
  secret: string;
  event_id: string;
  change: AlertEvent['change'];
  payload: AlertRow;
}

/**
 * Delivers alert changes after the transaction that made them commits: publishes the outbox
 * (`alert_event`) on NATS and POSTs to webhooks, with retries and exponential backoff and a log of every
 * attempt. Rows are claimed with FOR UPDATE SKIP LOCKED, so every API and worker replica can sweep.
 */
@Injectable()
export class AlertDispatcher implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('AlertDispatcher');
  private sweepTimer?: NodeJS.Timeout;
  private wakeTimer?: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly nats: NatsClients,
    @Inject(NATS_NAMES) private readonly names: NatsNames,
    @Inject(EARLY_WARNING_OPTIONS) private readonly options: EarlyWarningOptions,
  ) {}

  onModuleInit(): void {
    this.sweepTimer = setInterval(() => void this.flush().catch(() => undefined), this.options.sweepMs);
    this.sweepTimer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    clearTimeout(this.wakeTimer);
    await this.running?.catch(() => undefined);
  }

  /**
   * After a commit that wrote alert events: publishes them on NATS before returning, and starts webhook
   * delivery in the background (a slow or failing webhook must not hold up the worker's job or an HTTP
   * request). Failures are left to the sweep.
   */
  async afterCommit(): Promise<void> {
    if (this.stopped) return;
    await this.publishPending().catch((err: Error) =>
      this.log.warn({ err: err.message }, 'publishing alert events failed; the sweep retries'),
    );
    void this.flush();
  }

  /** Publishes pending events and attempts due webhook deliveries; concurrent calls coalesce. */
  flush(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.publishPending();
          await this.deliverDue();
        } while (this.again && !this.stopped);
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message },
          'alert delivery sweep failed; retrying on the next one',
        );
      } finally {
        this.running = null;
      }
      await this.scheduleWake();
    })();
    return this.running;
  }

  private async publishPending(): Promise<void> {
    if (this.nats.nc.isClosed()) return;
    await this.dataSource.transaction(async (m) => {
      const rows: {
        id: string;
        run_id: string;
        project: string;
        change: AlertEvent['change'];
        payload: AlertRow;
      }[] = await m.query(
        `SELECT id, run_id, project, change, payload FROM alert_event
            WHERE published_at IS NULL ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED`,
      );
      if (!rows.length) return;
      for (const r of rows) {
        const event: AlertEvent = { eventId: String(r.id), change: r.change, alert: alertView(r.payload) };
        this.nats.nc.publish(this.names.alertsSubject(r.project, r.run_id), JSON.stringify(event));
      }
      // Marked published only once the server has them (at-least-once: a crash here re-publishes).
      await this.nats.nc.flush();
      await m.query(`UPDATE alert_event SET published_at = now() WHERE id = ANY($1::bigint[])`, [
        rows.map((r) => r.id),
      ]);
    });
  }

  private async deliverDue(): Promise<void> {
    for (;;) {
      // Claim: push next_attempt_at past the attempt's timeout so no other replica takes it meanwhile.
      const due: DueDelivery[] = await this.dataSource.query(
        `WITH claimed AS (
           UPDATE webhook_delivery d SET next_attempt_at = now() + make_interval(secs => $1::float8 / 1000)
            WHERE d.id IN (SELECT id FROM webhook_delivery
                            WHERE status = 'pending' AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
           RETURNING d.id, d.attempts, d.webhook_id, d.event_id)
         SELECT c.id, c.attempts, w.url, w.secret, e.id AS event_id, e.change, e.payload
           FROM claimed c JOIN webhook w ON w.id = c.webhook_id JOIN alert_event e ON e.id = c.event_id`,
        [this.options.webhookTimeoutMs + 5_000],
      );
      if (!due.length) return;
      await Promise.all(due.map((d) => this.attempt(d)));
      if (this.stopped) return;
    }
  }

  private async attempt(d: DueDelivery): Promise<void> {
    const attempt = d.attempts + 1;
    const event: AlertEvent = { eventId: String(d.event_id), change: d.change, alert: alertView(d.payload) };
    const body = JSON.stringify(event);
    const started = Date.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-sentinel-signature': signBody(d.secret, body),
          'x-sentinel-event': d.change,
          'x-sentinel-delivery': String(d.id),
          'x-sentinel-attempt': String(attempt),
        },
        signal: AbortSignal.timeout(this.options.webhookTimeoutMs),
      });
      statusCode = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const ok = error === null;
    const failed = !ok && attempt >= this.options.webhookMaxAttempts;
    await this.dataSource.transaction(async (m) => {
      await m.query(
        `INSERT INTO webhook_attempt (delivery_id, attempt, status_code, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [d.id, attempt, statusCode, error, Date.now() - started],
      );
      await m.query(
        `UPDATE webhook_delivery SET attempts = $2, status = $3, last_status_code = $4, last_error = $5,
                next_attempt_at = now() + make_interval(secs => $6::float8 / 1000),
                delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
          WHERE id = $1`,
        [
          d.id,
          attempt,
          ok ? 'delivered' : failed ? 'failed' : 'pending',
          statusCode,
          error,
          ok || failed ? 0 : backoffMs(this.options.webhookRetryBaseMs, attempt),
        ],
      );
    });
    if (!ok) this.log.warn({ delivery: d.id, attempt, error, failed }, 'webhook delivery attempt failed');
  }

  /** Wakes up for the next retry that is due sooner than the regular sweep. */
  private async scheduleWake(): Promise<void> {
    if (this.stopped) return;
    const [row]: { ms: number | null }[] = await this.dataSource
      .query(
        `SELECT extract(epoch FROM min(next_attempt_at) - now()) * 1000 AS ms
           FROM webhook_delivery WHERE status = 'pending'`,
      )
      .catch(() => [{ ms: null }]);
    if (row?.ms === null || row?.ms === undefined) return;
    const delay = Math.max(5, Number(row.ms));
    if (delay >= this.options.sweepMs) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => void this.flush(), delay);
    this.wakeTimer.unref();
  }
}
