import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The record of truth: SAEs and their watchlists, runs, evaluations (one per run × checkpoint step) and
 * what the worker computed for each evaluation. Results are keyed by evaluation id, so a worker that
 * writes them twice (a redelivery after a crash) replaces rather than duplicates.
 */
export class CoreSchema1764400000000 implements MigrationInterface {
  name = 'CoreSchema1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE sae (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      format text NOT NULL CHECK (format IN ('saelens', 'gemma-scope', 'sparsify')),
      architecture text NOT NULL CHECK (architecture IN ('standard', 'jumprelu', 'topk')),
      d_in integer NOT NULL CHECK (d_in > 0),
      d_sae integer NOT NULL CHECK (d_sae > 0),
      k integer,
      dtype text NOT NULL,
      config jsonb NOT NULL DEFAULT '{}',
      object_key text NOT NULL,
      size_bytes bigint NOT NULL,
      sha256 text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);

    await q.query(`CREATE TABLE watchlist_latent (
      sae_id uuid NOT NULL REFERENCES sae(id) ON DELETE CASCADE,
      latent_index integer NOT NULL CHECK (latent_index >= 0),
      label text NOT NULL,
      rules jsonb,
      PRIMARY KEY (sae_id, latent_index)
    )`);

    await q.query(`CREATE TABLE watchlist_direction (
      sae_id uuid NOT NULL REFERENCES sae(id) ON DELETE CASCADE,
      name text NOT NULL,
      vector real[] NOT NULL,
      rules jsonb,
      PRIMARY KEY (sae_id, name)
    )`);

    await q.query(`CREATE TABLE run (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      project text NOT NULL,
      model text NOT NULL,
      sae_id uuid NOT NULL REFERENCES sae(id),
      baseline_step integer,
      baseline_run_id uuid REFERENCES run(id),
      metadata jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX run_project_model_idx ON run (project, model)`);

    await q.query(`CREATE TABLE evaluation (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      run_id uuid NOT NULL REFERENCES run(id) ON DELETE CASCADE,
      step integer NOT NULL CHECK (step >= 0),
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
      error text,
      content_sha256 text NOT NULL,
      object_key text NOT NULL,
      size_bytes bigint NOT NULL,
      n_tokens integer NOT NULL,
      n_prompts integer NOT NULL DEFAULT 0,
      attempts integer NOT NULL DEFAULT 0,
      worker_id text,
      backend text,
      adapter text,
      timings jsonb,
      submitted_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz,
      started_at timestamptz,
      heartbeat_at timestamptz,
      finished_at timestamptz,
      UNIQUE (run_id, step)
    )`);
    // The sweeper scans queued and running evaluations; a partial index keeps that cheap.
    await q.query(
      `CREATE INDEX evaluation_pending_idx ON evaluation (status, published_at) WHERE status IN ('queued', 'running')`,
    );

    await q.query(`CREATE TABLE evaluation_latent (
      evaluation_id uuid NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
      latent_index integer NOT NULL,
      mean double precision NOT NULL,
      frac_active double precision NOT NULL,
      max double precision NOT NULL,
      prompt_means real[] NOT NULL DEFAULT '{}',
      PRIMARY KEY (evaluation_id, latent_index)
    )`);

    await q.query(`CREATE TABLE evaluation_direction (
      evaluation_id uuid NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
      name text NOT NULL,
      mean double precision NOT NULL,
      prompt_means real[] NOT NULL DEFAULT '{}',
      PRIMARY KEY (evaluation_id, name)
    )`);

    // Full per-latent vectors for model diffing, float32 little-endian. For very wide SAEs the pipeline
    // may store them in the object store instead and keep only the key here (see docs/architecture.md).
    await q.query(`CREATE TABLE evaluation_vectors (
      evaluation_id uuid PRIMARY KEY REFERENCES evaluation(id) ON DELETE CASCADE,
      d_sae integer NOT NULL,
      encoding text NOT NULL DEFAULT 'f32le',
      mean bytea,
      frac_active bytea,
      object_key text
    )`);

    // The latents with the largest mean activation at this evaluation (absolute, not relative to a baseline).
    await q.query(`CREATE TABLE evaluation_top_latent (
      evaluation_id uuid NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
      rank integer NOT NULL,
      latent_index integer NOT NULL,
      mean double precision NOT NULL,
      PRIMARY KEY (evaluation_id, rank)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'evaluation_top_latent',
      'evaluation_vectors',
      'evaluation_direction',
      'evaluation_latent',
      'evaluation',
      'run',
      'watchlist_direction',
      'watchlist_latent',
      'sae',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
