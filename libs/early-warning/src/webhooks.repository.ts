import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Severity } from './rules.js';

export interface WebhookView {
  id: string;
  project: string;
  url: string;
  minSeverity: Severity;
  active: boolean;
  createdAt: string;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  change: string;
  alertId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: { attempt: number; at: string; statusCode?: number; error?: string; durationMs: number }[];
  nextAttemptAt?: string;
  deliveredAt?: string;
}

interface WebhookRow {
  id: string;
  project: string;
  url: string;
  min_severity: Severity;
  active: boolean;
  created_at: Date;
}

const view = (r: WebhookRow): WebhookView => ({
  id: r.id,
  project: r.project,
  url: r.url,
  minSeverity: r.min_severity,
  active: r.active,
  createdAt: new Date(r.created_at).toISOString(),
});

/** Webhook registrations and their delivery log. Secrets are returned once, when created. */
@Injectable()
export class WebhooksRepository {
  constructor(private readonly dataSource: DataSource) {}

  async create(input: {
    project: string;
    url: string;
    secret?: string;
    minSeverity?: Severity;
  }): Promise<WebhookView & { secret: string }> {
    const secret = input.secret ?? randomBytes(24).toString('base64url');
    const [row]: WebhookRow[] = await this.dataSource.query(
      `INSERT INTO webhook (project, url, secret, min_severity) VALUES ($1, $2, $3, $4)
       RETURNING id, project, url, min_severity, active, created_at`,
      [input.project, input.url, secret, input.minSeverity ?? 'watch'],
    );
    return { ...view(row), secret };
  }

  async list(project?: string): Promise<WebhookView[]> {
    const rows: WebhookRow[] = await this.dataSource.query(
      `SELECT id, project, url, min_severity, active, created_at FROM webhook
        WHERE ($1::text IS NULL OR project = $1) ORDER BY created_at, id`,
      [project ?? null],
    );
    return rows.map(view);
  }

  async exists(id: string): Promise<boolean> {
    const rows = await this.dataSource.query(`SELECT 1 FROM webhook WHERE id = $1`, [id]);
    return rows.length > 0;
  }

  async deliveries(webhookId: string, limit: number): Promise<DeliveryView[]> {
    const rows: {
      id: string;
      event_id: string;
      change: string;
      alert_id: string;
      status: DeliveryView['status'];
      next_attempt_at: Date;
      delivered_at: Date | null;
      attempts: {
        attempt: number;
        at: string;
        status_code: number | null;
        error: string | null;
        duration_ms: number;
      }[];
    }[] = await this.dataSource.query(
      `SELECT d.id, d.event_id, e.change, e.alert_id, d.status, d.next_attempt_at, d.delivered_at,
              coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'at', a.at, 'status_code', a.status_code,
                                                          'error', a.error, 'duration_ms', a.duration_ms)
                                        ORDER BY a.attempt)
                          FROM webhook_attempt a WHERE a.delivery_id = d.id), '[]') AS attempts
         FROM webhook_delivery d JOIN alert_event e ON e.id = d.event_id
        WHERE d.webhook_id = $1
        ORDER BY d.id DESC LIMIT $2`,
      [webhookId, limit],
    );
    return rows.map((r) => ({
      id: String(r.id),
      eventId: String(r.event_id),
      change: r.change,
      alertId: r.alert_id,
      status: r.status,
      attempts: r.attempts.map((a) => ({
        attempt: a.attempt,
        at: new Date(a.at).toISOString(),
        ...(a.status_code !== null ? { statusCode: a.status_code } : {}),
        ...(a.error !== null ? { error: a.error } : {}),
        durationMs: a.duration_ms,
      })),
      ...(r.status === 'pending' ? { nextAttemptAt: new Date(r.next_attempt_at).toISOString() } : {}),
      ...(r.delivered_at ? { deliveredAt: new Date(r.delivered_at).toISOString() } : {}),
    }));
  }
}
