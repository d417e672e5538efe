import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Least privilege: the API and the workers connect as members of their own group roles, which own no
 * table, so neither can drop or alter the schema; each may write only what its code writes.
 * Deployments create login users IN ROLE sentinel_api / sentinel_worker (docs/deploy.md); migrations run
 * as the schema owner. A later migration that adds a table adds it to APP_TABLES and APP_ROLE_GRANTS and calls
 * grantAppRoles again.
 */
/** Every table the apps use; the API reads them all (it checks API keys), the worker all but api_key. */
const APP_TABLES = [
  'sae',
  'watchlist_latent',
  'watchlist_direction',
  'run',
  'evaluation',
  'evaluation_latent',
  'evaluation_direction',
  'evaluation_vectors',
  'evaluation_top_latent',
  'evaluation_target_stat',
  'alert',
  'alert_event',
  'webhook',
  'webhook_delivery',
  'webhook_attempt',
  'evaluation_rising_latent',
  'api_key',
];

export const APP_ROLE_GRANTS: Record<
  'sentinel_api' | 'sentinel_worker',
  { read: string[]; write: string[] }
> = {
  sentinel_api: {
    read: APP_TABLES,
    // Registration, ingest and the sweeper; acknowledging alerts; webhooks and their delivery (the alert
    // outbox is swept by every process). Never the results of an evaluation, never API keys.
    write: [
      'sae',
      'watchlist_latent',
      'watchlist_direction',
      'run',
      'evaluation',
      'alert',
      'alert_event',
      'webhook',
      'webhook_delivery',
      'webhook_attempt',
    ],
  },
  sentinel_worker: {
    read: APP_TABLES.filter((table) => table !== 'api_key'),
    // Results and what early warning derives from them. Never SAEs, runs, watchlists, webhooks or keys.
    write: [
      'evaluation',
      'evaluation_latent',
      'evaluation_direction',
      'evaluation_vectors',
      'evaluation_top_latent',
      'evaluation_target_stat',
      'alert',
      'alert_event',
      'evaluation_rising_latent',
      'webhook_delivery',
      'webhook_attempt',
    ],
  },
};

/**
 * Creates the group roles when this user may (CREATEROLE), and grants them their tables. A managed
 * Postgres whose migration user cannot create roles gets a notice instead; an operator creates the two
 * roles before the first migration runs (docs/deploy.md); CloudNativePG does it at bootstrap.
 */
export async function grantAppRoles(q: QueryRunner): Promise<void> {
  for (const [role, { read, write }] of Object.entries(APP_ROLE_GRANTS)) {
    await q.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
        IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          CREATE ROLE ${role} NOLOGIN;
        ELSE
          RAISE NOTICE 'role ${role} does not exist and % may not create it: see docs/deploy.md', current_user;
        END IF;
      END IF;
    EXCEPTION WHEN duplicate_object THEN
      NULL; -- another database's migration created it a moment ago: roles are cluster-wide
    END $$`);
    const [{ exists }] = (await q.query(
      `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists`,
      [role],
    )) as { exists: boolean }[];
    if (!exists) continue;
    await q.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
    await q.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await q.query(`GRANT SELECT ON ${read.join(', ')} TO ${role}`);
    await q.query(`GRANT INSERT, UPDATE, DELETE ON ${write.join(', ')} TO ${role}`);
    await q.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  }
}

export class AppRoles1764401000000 implements MigrationInterface {
  name = 'AppRoles1764401000000';

  async up(q: QueryRunner): Promise<void> {
    await grantAppRoles(q);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const role of Object.keys(APP_ROLE_GRANTS)) {
      await q.query(`DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
          REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role};
          REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ${role};
          REVOKE USAGE ON SCHEMA public FROM ${role};
        END IF;
      END $$`);
    }
  }
}
