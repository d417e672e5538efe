import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Retention of uploaded activations (ACTIVATIONS_RETENTION_HOURS): when the API deleted an evaluation's
 * activations object from the object store, null while it is there. The API's retention pass looks for
 * finished evaluations whose object is still there, oldest finish first; the partial index holds only
 * those, so it stays small however many evaluations have had their activations deleted. The column is
 * covered by the table-level grants of AppRoles (the API already updates `evaluation`).
 */
export class ActivationsRetention1764401100000 implements MigrationInterface {
  name = 'ActivationsRetention1764401100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE evaluation ADD COLUMN activations_deleted_at timestamptz`);
    await q.query(
      `CREATE INDEX evaluation_activations_retained_idx ON evaluation (finished_at)
        WHERE activations_deleted_at IS NULL AND status IN ('done', 'failed')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS evaluation_activations_retained_idx`);
    await q.query(`ALTER TABLE evaluation DROP COLUMN IF EXISTS activations_deleted_at`);
  }
}
