import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The NATS prefix each evaluation's job goes to, so that a sweeper only re-publishes the evaluations of
 * its own deployment when several (or several test files) share one database; and indexes for what reads
 * evaluations besides the pipeline itself: a run's trend (its done checkpoints in
 * step order, read by early warning after every evaluation), the fleet's recent results, one latent across
 * every evaluation (fleet drift), and the runs of an SAE (watchlist changes).
 */
export class Pipeline1764400300000 implements MigrationInterface {
  name = 'Pipeline1764400300000';

  async up(q: QueryRunner): Promise<void> {
    // Null for rows written before this column: every sweeper takes those.
    await q.query(`ALTER TABLE evaluation ADD COLUMN nats_prefix text`);
    // Partial: queued/running/failed rows never appear in a trend, and the unique (run_id, step) index
    // would make those queries filter them one by one.
    await q.query(`CREATE INDEX evaluation_run_done_idx ON evaluation (run_id, step) WHERE status = 'done'`);
    await q.query(
      `CREATE INDEX evaluation_done_recent_idx ON evaluation (finished_at DESC) WHERE status = 'done'`,
    );
    await q.query(
      `CREATE INDEX evaluation_latent_latent_idx ON evaluation_latent (latent_index, evaluation_id)`,
    );
    await q.query(`CREATE INDEX run_sae_idx ON run (sae_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const index of [
      'run_sae_idx',
      'evaluation_latent_latent_idx',
      'evaluation_done_recent_idx',
      'evaluation_run_done_idx',
    ]) {
      await q.query(`DROP INDEX IF EXISTS ${index}`);
    }
    await q.query(`ALTER TABLE evaluation DROP COLUMN IF EXISTS nats_prefix`);
  }
}
