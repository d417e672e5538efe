import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What a worker needs to run a claimed evaluation. */
export interface ClaimedEvaluation {
  id: string;
  runId: string;
  step: number;
  /** attempts after the claim: the fencing token every later write of this delivery must present. */
  token: number;
  /**
   * The status before this claim: `running` when the previous delivery claimed it and never settled it
   * (its worker died or stalled, or could not reach Postgres to set it back to `queued`).
   */
  previousStatus: 'queued' | 'running';
  objectKey: string;
  nTokens: number;
  sae: {
    id: string;
    format: string;
    dIn: number;
    dSae: number;
    objectKey: string;
    sizeBytes: number;
    sha256: string;
  };
  watchLatents: number[];
  directions: { name: string; vector: number[] }[];
}

/** The statistics of one evaluation as the worker computed them, ready to store. */
export interface EvaluationResults {
  backend: string;
  adapter: string;
  nPrompts: number;
  timings: Record<string, number>;
  latents: { index: number; mean: number; fracActive: number; max: number; promptMeans: number[] }[];
  directions: { name: string; mean: number; promptMeans: number[] }[];
  top: { index: number; mean: number }[];
  vectors: { dSae: number; mean: Buffer | null; fracActive: Buffer | null; objectKey: string | null };
}

export type ClaimResult =
  | { kind: 'claimed'; evaluation: ClaimedEvaluation }
  | { kind: 'finished'; status: 'done' | 'failed' }
  | { kind: 'missing' };

/** The evaluation rows as a worker reads and writes them; every write is fenced by the claim's token. */
@Injectable()
export class EvaluationResultsRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Claims the evaluation for this delivery. A `running` evaluation is taken over too: JetStream only
   * redelivers a job whose previous holder stopped acknowledging or heartbeating, so that holder is dead
   * or stuck, and the token it holds no longer matches (its late writes change nothing).
   */
  async claim(id: string, workerId: string): Promise<ClaimResult> {
    // TypeORM returns [rows, rowCount] for an UPDATE, with or without RETURNING.
    // RETURNING sees the new row; the status before the claim comes from the locked row in `prev`.
    const [rows]: [
      {
        attempts: number;
        run_id: string;
        step: number;
        object_key: string;
        n_tokens: number;
        previous_status: 'queued' | 'running';
      }[],
    ] = await this.db.query(
      `UPDATE evaluation e
            SET status = 'running', attempts = e.attempts + 1, worker_id = $2,
                started_at = now(), heartbeat_at = now(), error = NULL
           FROM (SELECT id, status FROM evaluation WHERE id = $1 FOR UPDATE) prev
          WHERE e.id = prev.id AND prev.status IN ('queued', 'running')
          RETURNING e.attempts, e.run_id, e.step, e.object_key, e.n_tokens, prev.status AS previous_status`,
      [id, workerId],
    );
    if (!rows[0]) {
      const existing: { status: 'done' | 'failed' }[] = await this.db.query(
        'SELECT status FROM evaluation WHERE id = $1',
        [id],
      );
      return existing[0] ? { kind: 'finished', status: existing[0].status } : { kind: 'missing' };
    }
    const e = rows[0];
    // Three independent reads (the SAE and its watchlist, through the run), in parallel on the pool.
    const [[sae], latents, directions] = await Promise.all([
      this.db.query(
        `SELECT s.id, s.format, s.d_in, s.d_sae, s.object_key, s.size_bytes, s.sha256
           FROM run r JOIN sae s ON s.id = r.sae_id WHERE r.id = $1`,
        [e.run_id],
      ) as Promise<SaeRow[]>,
      this.db.query(
        `SELECT latent_index FROM watchlist_latent
          WHERE sae_id = (SELECT sae_id FROM run WHERE id = $1) ORDER BY latent_index`,
        [e.run_id],
      ) as Promise<{ latent_index: number }[]>,
      this.db.query(
        `SELECT name, vector FROM watchlist_direction
          WHERE sae_id = (SELECT sae_id FROM run WHERE id = $1) ORDER BY name`,
        [e.run_id],
      ) as Promise<{ name: string; vector: number[] }[]>,
    ]);
    return {
      kind: 'claimed',
      evaluation: {
        id,
        runId: e.run_id,
        step: e.step,
        token: e.attempts,
        previousStatus: e.previous_status,
        objectKey: e.object_key,
        nTokens: e.n_tokens,
        sae: {
          id: sae.id,
          format: sae.format,
          dIn: sae.d_in,
          dSae: sae.d_sae,
          objectKey: sae.object_key,
          sizeBytes: Number(sae.size_bytes),
          sha256: sae.sha256,
        },
        watchLatents: latents.map((l) => l.latent_index),
        directions,
      },
    };
  }

  /** Proof of life for the sweeper; false when this delivery no longer owns the evaluation. */
  async heartbeat(id: string, token: number): Promise<boolean> {
    const [, count]: [unknown, number] = await this.db.query(
      `UPDATE evaluation SET heartbeat_at = now() WHERE id = $1 AND attempts = $2 AND status = 'running'`,
      [id, token],
    );
    return count > 0;
  }

  /**
   * Writes every result of the evaluation and marks it done, in one transaction. Replaces whatever an
   * earlier, interrupted attempt may have written, so a redelivery never duplicates rows. Returns the
   * submit-to-done latency in seconds, or null when this delivery lost its claim (nothing is written).
   */
  async complete(id: string, token: number, r: EvaluationResults): Promise<number | null> {
    return this.db.transaction(async (tx) => {
      const [done]: [{ latency_s: number }[]] = await tx.query(
        `UPDATE evaluation
            SET status = 'done', error = NULL, finished_at = now(), heartbeat_at = now(),
                backend = $3, adapter = $4, timings = $5, n_prompts = $6
          WHERE id = $1 AND attempts = $2 AND status = 'running'
          RETURNING extract(epoch FROM now() - submitted_at)::float8 AS latency_s`,
        [id, token, r.backend, r.adapter, r.timings, r.nPrompts],
      );
      if (!done[0]) return null;
      for (const table of [
        'evaluation_latent',
        'evaluation_direction',
        'evaluation_top_latent',
        'evaluation_vectors',
      ]) {
        await tx.query(`DELETE FROM ${table} WHERE evaluation_id = $1`, [id]);
      }
      if (r.latents.length) {
        await tx.query(
          `INSERT INTO evaluation_latent (evaluation_id, latent_index, mean, frac_active, max, prompt_means)
           SELECT $1, (x->>'index')::int, (x->>'mean')::float8, (x->>'fracActive')::float8, (x->>'max')::float8,
                  ARRAY(SELECT jsonb_array_elements_text(x->'promptMeans')::real)
             FROM jsonb_array_elements($2::jsonb) AS x`,
          [id, JSON.stringify(r.latents)],
        );
      }
      if (r.directions.length) {
        await tx.query(
          `INSERT INTO evaluation_direction (evaluation_id, name, mean, prompt_means)
           SELECT $1, x->>'name', (x->>'mean')::float8,
                  ARRAY(SELECT jsonb_array_elements_text(x->'promptMeans')::real)
             FROM jsonb_array_elements($2::jsonb) AS x`,
          [id, JSON.stringify(r.directions)],
        );
      }
      if (r.top.length) {
        await tx.query(
          `INSERT INTO evaluation_top_latent (evaluation_id, rank, latent_index, mean)
           SELECT $1, t.rank, t.latent_index, t.mean
             FROM unnest($2::int[], $3::float8[]) WITH ORDINALITY AS t(latent_index, mean, rank)`,
          [id, r.top.map((t) => t.index), r.top.map((t) => t.mean)],
        );
      }
      await tx.query(
        `INSERT INTO evaluation_vectors (evaluation_id, d_sae, encoding, mean, frac_active, object_key)
         VALUES ($1, $2, 'f32le', $3, $4, $5)`,
        [id, r.vectors.dSae, r.vectors.mean, r.vectors.fracActive, r.vectors.objectKey],
      );
      return done[0].latency_s;
    });
  }

  /** Records why the evaluation failed. With a token, only if this delivery still owns it. */
  async fail(id: string, error: string, token?: number): Promise<boolean> {
    const [, count]: [unknown, number] = await this.db.query(
      `UPDATE evaluation SET status = 'failed', error = $2, finished_at = now()
        WHERE id = $1 AND status IN ('queued', 'running') AND ($3::int IS NULL OR attempts = $3)`,
      [id, error, token ?? null],
    );
    return count > 0;
  }

  /** A transient failure: back to `queued` for the redelivery (the job stays in the stream, nak'd). */
  async release(id: string, token: number): Promise<void> {
    await this.db.query(
      `UPDATE evaluation SET status = 'queued', worker_id = NULL
        WHERE id = $1 AND attempts = $2 AND status = 'running'`,
      [id, token],
    );
  }
}

interface SaeRow {
  id: string;
  format: string;
  d_in: number;
  d_sae: number;
  object_key: string;
  size_bytes: string;
  sha256: string;
}
