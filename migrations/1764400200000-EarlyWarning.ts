import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Early warning: per-checkpoint statistics of every watched target (derived, recomputed from the
 * evaluation tables), alerts with their evidence, the outbox of alert changes (published to NATS and
 * delivered to webhooks after commit), webhooks and their delivery log, and the latents that rose most
 * over the baseline at each evaluation (model diffing).
 */
export class EarlyWarning1764400200000 implements MigrationInterface {
  name = 'EarlyWarning1764400200000';

  async up(q: QueryRunner): Promise<void> {
    // One row per evaluation × watched target. `target` is 'latent:<index>' or 'direction:<name>', the key
    // the queries filter on; run_id and step are copied from the evaluation so that a run's trend and the
    // fleet's latest values are single index reads.
    await q.query(`CREATE TABLE evaluation_target_stat (
      evaluation_id uuid NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
      target text NOT NULL,
      run_id uuid NOT NULL REFERENCES run(id) ON DELETE CASCADE,
      step integer NOT NULL,
      kind text NOT NULL CHECK (kind IN ('latent', 'direction')),
      latent_index integer,
      direction_name text,
      baseline_evaluation_id uuid NOT NULL,
      mean double precision NOT NULL,
      baseline_mean double precision NOT NULL,
      delta double precision NOT NULL,
      n_prompts integer NOT NULL,
      se double precision,
      t double precision,
      p double precision,
      z double precision,
      cusum double precision NOT NULL,
      trend_p double precision,
      trend_slope double precision,
      PRIMARY KEY (evaluation_id, target),
      CHECK ((kind = 'latent') = (latent_index IS NOT NULL) AND (kind = 'direction') = (direction_name IS NOT NULL))
    )`);
    // INCLUDE the per-point columns: the trend (one range of the index) and fleet drift (one backwards probe
    // per run) become index-only scans, already in (target, step) order, with no heap visits.
    await q.query(
      `CREATE INDEX evaluation_target_stat_run_idx ON evaluation_target_stat (run_id, target, step)
         INCLUDE (mean, delta, se, t, p, z, cusum)`,
    );

    await q.query(`CREATE TABLE alert (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      run_id uuid NOT NULL REFERENCES run(id) ON DELETE CASCADE,
      project text NOT NULL,
      target text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('latent', 'direction')),
      latent_index integer,
      direction_name text,
      rule text NOT NULL CHECK (rule IN ('threshold', 'cusum', 'trend')),
      severity text NOT NULL CHECK (severity IN ('watch', 'warning', 'critical')),
      status text NOT NULL CHECK (status IN ('open', 'resolved')),
      opened_at_step integer NOT NULL,
      resolved_at_step integer,
      evidence jsonb NOT NULL,
      opened_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      acknowledged_at timestamptz,
      acknowledged_by text,
      acknowledged_note text,
      CHECK ((status = 'resolved') = (resolved_at_step IS NOT NULL))
    )`);
    // Deduplication: at most one open alert per run × target × rule, whatever the code does.
    await q.query(
      `CREATE UNIQUE INDEX alert_one_open_idx ON alert (run_id, target, rule) WHERE status = 'open'`,
    );
    await q.query(`CREATE INDEX alert_run_idx ON alert (run_id, updated_at DESC)`);
    await q.query(`CREATE INDEX alert_project_idx ON alert (project, updated_at DESC)`);
    await q.query(`CREATE INDEX alert_updated_idx ON alert (updated_at DESC)`);

    // The outbox: written in the transaction that changes the alert, published after commit.
    await q.query(`CREATE TABLE alert_event (
      id bigserial PRIMARY KEY,
      alert_id uuid NOT NULL REFERENCES alert(id) ON DELETE CASCADE,
      run_id uuid NOT NULL,
      project text NOT NULL,
      change text NOT NULL CHECK (change IN ('opened', 'resolved', 'severity', 'acknowledged')),
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz
    )`);
    await q.query(`CREATE INDEX alert_event_unpublished_idx ON alert_event (id) WHERE published_at IS NULL`);

    await q.query(`CREATE TABLE webhook (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project text NOT NULL,
      url text NOT NULL,
      secret text NOT NULL,
      min_severity text NOT NULL DEFAULT 'watch' CHECK (min_severity IN ('watch', 'warning', 'critical')),
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX webhook_project_idx ON webhook (project) WHERE active`);

    await q.query(`CREATE TABLE webhook_delivery (
      id bigserial PRIMARY KEY,
      webhook_id uuid NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
      event_id bigint NOT NULL REFERENCES alert_event(id) ON DELETE CASCADE,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      last_status_code integer,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      UNIQUE (webhook_id, event_id)
    )`);
    await q.query(
      `CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE status = 'pending'`,
    );
    // The delivery log: one row per HTTP attempt.
    await q.query(`CREATE TABLE webhook_attempt (
      delivery_id bigint NOT NULL REFERENCES webhook_delivery(id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      status_code integer,
      error text,
      duration_ms integer NOT NULL,
      PRIMARY KEY (delivery_id, attempt)
    )`);

    // Model diffing: the top-k latents by increase of mean activation over the baseline, among all latents.
    await q.query(`CREATE TABLE evaluation_rising_latent (
      evaluation_id uuid NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
      rank integer NOT NULL,
      run_id uuid NOT NULL REFERENCES run(id) ON DELETE CASCADE,
      step integer NOT NULL,
      baseline_evaluation_id uuid NOT NULL,
      latent_index integer NOT NULL,
      mean double precision NOT NULL,
      baseline_mean double precision NOT NULL,
      delta double precision NOT NULL,
      PRIMARY KEY (evaluation_id, rank)
    )`);
    await q.query(`CREATE INDEX evaluation_rising_latent_run_idx ON evaluation_rising_latent (run_id, step)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'evaluation_rising_latent',
      'webhook_attempt',
      'webhook_delivery',
      'webhook',
      'alert_event',
      'alert',
      'evaluation_target_stat',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
