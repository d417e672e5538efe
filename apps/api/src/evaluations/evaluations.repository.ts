import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type EvaluationDto, type EvaluationStatus } from './evaluations.dto.js';

export interface NewEvaluation {
  runId: string;
  step: number;
  contentSha256: string;
  objectKey: string;
  sizeBytes: number;
  nTokens: number;
  nPrompts: number;
  natsPrefix: string;
}

export interface ExistingEvaluation {
  id: string;
  status: EvaluationStatus;
  contentSha256: string;
  objectKey: string;
}

/** Evaluation rows as the API writes (submit, publish, sweep) and reads them. */
@Injectable()
export class EvaluationsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Inserts the evaluation, or returns the one already there for (run, step) with `created: false`. One
   * statement, so two uploads of the same checkpoint racing each other cannot both insert.
   */
  async insertOrGet(e: NewEvaluation): Promise<ExistingEvaluation & { created: boolean }> {
    const inserted: { id: string; status: EvaluationStatus }[] = await this.db.query(
      `INSERT INTO evaluation
         (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens, n_prompts, nats_prefix)
       VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8)
       ON CONFLICT (run_id, step) DO NOTHING
       RETURNING id, status`,
      [e.runId, e.step, e.contentSha256, e.objectKey, e.sizeBytes, e.nTokens, e.nPrompts, e.natsPrefix],
    );
    if (inserted[0])
      return { ...inserted[0], contentSha256: e.contentSha256, objectKey: e.objectKey, created: true };
    const rows: { id: string; status: EvaluationStatus; content_sha256: string; object_key: string }[] =
      await this.db.query(
        `SELECT id, status, content_sha256, object_key FROM evaluation WHERE run_id = $1 AND step = $2`,
        [e.runId, e.step],
      );
    const r = rows[0];
    return {
      id: r.id,
      status: r.status,
      contentSha256: r.content_sha256,
      objectKey: r.object_key,
      created: false,
    };
  }

  /**
   * A failed evaluation uploaded again with the same bytes goes back to the queue, reading its activations
   * from the new upload's object (present again, so no longer marked deleted by retention). Returns the object it used before (to delete), or null when the
   * evaluation was not `failed` any more (a concurrent retry won).
   */
  async requeueFailed(id: string, objectKey: string, natsPrefix: string): Promise<string | null> {
    const [rows]: [{ old_key: string }[]] = await this.db.query(
      `UPDATE evaluation e
          SET status = 'queued', error = NULL, finished_at = NULL, started_at = NULL, heartbeat_at = NULL,
              worker_id = NULL, published_at = NULL, object_key = $2, nats_prefix = $3,
              activations_deleted_at = NULL
         FROM (SELECT id, object_key AS old_key FROM evaluation WHERE id = $1 FOR UPDATE) old
        WHERE e.id = old.id AND e.status = 'failed'
        RETURNING old.old_key`,
      [id, objectKey, natsPrefix],
    );
    return rows[0]?.old_key ?? null;
  }

  async markPublished(id: string, db: DataSource | EntityManager = this.db): Promise<void> {
    await db.query(`UPDATE evaluation SET published_at = now() WHERE id = $1`, [id]);
  }

  async get(id: string): Promise<EvaluationDto | null> {
    const rows: EvaluationRow[] = await this.db.query(
      `SELECT e.*, r.sae_id FROM evaluation e JOIN run r ON r.id = e.run_id WHERE e.id = $1`,
      [id],
    );
    const e = rows[0];
    if (!e) return null;
    // Labels come from the SAE's current watchlist; a latent removed since has label null.
    const [latents, directions, top] = await Promise.all([
      this.db.query(
        `SELECT l.latent_index, w.label, l.mean, l.frac_active, l.max, l.prompt_means
           FROM evaluation_latent l
           LEFT JOIN watchlist_latent w ON w.sae_id = $2 AND w.latent_index = l.latent_index
          WHERE l.evaluation_id = $1
          ORDER BY l.latent_index`,
        [id, e.sae_id],
      ) as Promise<LatentRow[]>,
      this.db.query(
        `SELECT name, mean, prompt_means FROM evaluation_direction WHERE evaluation_id = $1 ORDER BY name`,
        [id],
      ) as Promise<{ name: string; mean: number; prompt_means: number[] }[]>,
      this.db.query(
        `SELECT latent_index, mean FROM evaluation_top_latent WHERE evaluation_id = $1 ORDER BY rank`,
        [id],
      ) as Promise<{ latent_index: number; mean: number }[]>,
    ]);
    return {
      id: e.id,
      runId: e.run_id,
      step: e.step,
      status: e.status,
      ...(e.error ? { error: e.error } : {}),
      backend: e.backend,
      adapter: e.adapter,
      timings: e.timings,
      nTokens: e.n_tokens,
      nPrompts: e.n_prompts,
      sizeBytes: Number(e.size_bytes),
      attempts: e.attempts,
      submittedAt: e.submitted_at.toISOString(),
      startedAt: e.started_at?.toISOString() ?? null,
      finishedAt: e.finished_at?.toISOString() ?? null,
      activationsDeletedAt: e.activations_deleted_at?.toISOString() ?? null,
      latents: latents.map((l) => ({
        index: l.latent_index,
        label: l.label,
        mean: l.mean,
        fracActive: l.frac_active,
        max: l.max,
        promptMeans: l.prompt_means.map(Math.fround),
      })),
      // real[] arrives as shortest decimal text; fround gives back the exact float32 the worker stored.
      directions: directions.map((d) => ({
        name: d.name,
        mean: d.mean,
        promptMeans: d.prompt_means.map(Math.fround),
      })),
      top: top.map((t) => ({ index: t.latent_index, mean: t.mean })),
    };
  }

  /** Evaluations per status, for the metrics gauge. */
  async countByStatus(): Promise<Record<EvaluationStatus, number>> {
    const rows: { status: EvaluationStatus; n: string }[] = await this.db.query(
      `SELECT status, count(*) AS n FROM evaluation GROUP BY status`,
    );
    const out: Record<EvaluationStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }
}

interface EvaluationRow {
  id: string;
  run_id: string;
  sae_id: string;
  step: number;
  status: EvaluationStatus;
  error: string | null;
  backend: string | null;
  adapter: string | null;
  timings: Record<string, number> | null;
  n_tokens: number;
  n_prompts: number;
  size_bytes: string;
  attempts: number;
  submitted_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  activations_deleted_at: Date | null;
}

interface LatentRow {
  latent_index: number;
  label: string | null;
  mean: number;
  frac_active: number;
  max: number;
  prompt_means: number[];
}
