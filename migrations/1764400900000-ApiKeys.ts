import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * API keys: only a SHA-256 of the secret is stored (keys are 192-bit random, so a slow hash adds
 * nothing); `key_id` is the public part of the key used to find the row. A key belongs to one project,
 * or to every project ('*', admin keys only).
 */
export class ApiKeys1764400900000 implements MigrationInterface {
  name = 'ApiKeys1764400900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE api_key (
      key_id text PRIMARY KEY,
      secret_sha256 text NOT NULL,
      project text NOT NULL,
      role text NOT NULL CHECK (role IN ('read', 'write', 'admin')),
      name text,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz,
      CHECK (project <> '*' OR role = 'admin')
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS api_key`);
  }
}
