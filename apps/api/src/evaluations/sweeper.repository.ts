import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** Any constant works; with the prefix's hash it names "the sweeper of this deployment" among advisory locks. */
const SWEEPER_LOCK_CLASS = 737_440;

/** The SQL of the sweeper, run inside one transaction that holds the sweeper's advisory lock. */
@Injectable()
export class SweeperRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Runs `fn` in a transaction if this process gets the sweeper lock, else returns null at once: with
   * several API replicas, one sweeps per tick and the others skip (a transaction-scoped lock is released
   * by the commit, or by Postgres when the connection dies).
   */
  async withLock<T>(natsPrefix: string, fn: (tx: EntityManager) => Promise<T>): Promise<T | null> {
    return this.db.transaction(async (tx) => {
      const [{ locked }]: { locked: boolean }[] = await tx.query(
        'SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked',
        [SWEEPER_LOCK_CLASS, natsPrefix],
      );
      return locked ? fn(tx) : null;
    });
  }

  /**
   * Running evaluations whose worker stopped sending heartbeats go back to `queued`. Every query here
   * keeps to the evaluations of this deployment's NATS prefix (or of none, rows older than the column).
   */
  async requeueStale(tx: EntityManager, natsPrefix: string, staleRunningMs: number): Promise<string[]> {
    // TypeORM returns [rows, rowCount] for an UPDATE, with or without RETURNING.
    const [rows]: [{ id: string }[]] = await tx.query(
      `UPDATE evaluation SET status = 'queued', worker_id = NULL
        WHERE status = 'running'
          AND coalesce(heartbeat_at, started_at, submitted_at) < now() - make_interval(secs => $1 / 1000.0)
          AND (nats_prefix = $2 OR nats_prefix IS NULL)
        RETURNING id`,
      [staleRunningMs, natsPrefix],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Queued evaluations whose last publish (or submission, when never published) is older than the
   * deadline, oldest first.
   */
  async overdue(
    tx: EntityManager,
    natsPrefix: string,
    requeueAfterMs: number,
    limit: number,
  ): Promise<string[]> {
    const rows: { id: string }[] = await tx.query(
      `SELECT id FROM evaluation
        WHERE status = 'queued'
          AND coalesce(published_at, submitted_at) < now() - make_interval(secs => $1 / 1000.0)
          AND (nats_prefix = $3 OR nats_prefix IS NULL)
        ORDER BY coalesce(published_at, submitted_at)
        LIMIT $2`,
      [requeueAfterMs, limit, natsPrefix],
    );
    return rows.map((r) => r.id);
  }

  async touchPublished(tx: EntityManager, id: string): Promise<void> {
    await tx.query(`UPDATE evaluation SET published_at = now() WHERE id = $1 AND status = 'queued'`, [id]);
  }
}
