import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** An evaluation whose activations object is due for deletion. */
export interface ExpiredActivations {
  id: string;
  objectKey: string;
  sizeBytes: number;
}

/** The SQL of the activations retention pass (ActivationsRetentionService). */
@Injectable()
export class ActivationsRetentionRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Runs `fn` in one transaction over up to `limit` finished (`done` or `failed`) evaluations of this
   * NATS prefix that finished at least `retentionHours` ago and whose activations object is not recorded
   * as deleted, oldest finish first. The rows are locked (`FOR UPDATE SKIP LOCKED`): another API replica
   * takes other rows, and a re-upload of a failed checkpoint (which swaps the object) waits for the
   * commit. Only upload objects (`runs/…`, the name ingest gives them) are ever selected; result vectors
   * (`evaluations/<id>/vectors.f32le`) are named in `evaluation_vectors`, never in `evaluation.object_key`.
   * Rows without a prefix (written before the Pipeline migration) say nothing of which bucket holds their
   * object and are left alone.
   */
  async withExpired<T>(
    natsPrefix: string,
    retentionHours: number,
    limit: number,
    fn: (tx: EntityManager, expired: ExpiredActivations[]) => Promise<T>,
  ): Promise<T> {
    return this.db.transaction(async (tx) => {
      const rows: { id: string; object_key: string; size_bytes: string }[] = await tx.query(
        `SELECT id, object_key, size_bytes FROM evaluation
          WHERE activations_deleted_at IS NULL AND status IN ('done', 'failed')
            AND finished_at <= now() - make_interval(hours => $2)
            AND nats_prefix = $1
            AND object_key LIKE 'runs/%'
          ORDER BY finished_at
          LIMIT $3
          FOR UPDATE SKIP LOCKED`,
        [natsPrefix, retentionHours, limit],
      );
      return fn(
        tx,
        rows.map((r) => ({ id: r.id, objectKey: r.object_key, sizeBytes: Number(r.size_bytes) })),
      );
    });
  }

  /** Records the deletion of the object the row still names; false if the row changed meanwhile. */
  async markDeleted(tx: EntityManager, id: string, objectKey: string): Promise<boolean> {
    const [, count]: [unknown, number] = await tx.query(
      `UPDATE evaluation SET activations_deleted_at = now()
        WHERE id = $1 AND object_key = $2 AND activations_deleted_at IS NULL
          AND status IN ('done', 'failed')`,
      [id, objectKey],
    );
    return count === 1;
  }
}
