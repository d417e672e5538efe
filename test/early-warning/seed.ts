// Seeds SAEs, runs and done evaluations straight into Postgres, the way the worker leaves them, so the
// early-warning tests and the benchmark exercise processEvaluation and the queries without the GPU path.
import { randomUUID } from 'node:crypto';
import { type DataSource } from 'typeorm';
import { encodeF32le } from '../../libs/early-warning/src/index.js';

export interface SeedTarget {
  mean: number;
  promptMeans: number[];
}

export async function seedSae(
  ds: DataSource,
  input: {
    dSae: number;
    latents: { index: number; label: string; rules?: unknown }[];
    directions?: { name: string; rules?: unknown }[];
  },
): Promise<string> {
  const [{ id }]: { id: string }[] = await ds.query(
    `INSERT INTO sae (name, format, architecture, d_in, d_sae, dtype, object_key, size_bytes, sha256)
     VALUES ($1, 'saelens', 'standard', 16, $2, 'F32', 'test/sae', 0, $3) RETURNING id`,
    [`ew-${randomUUID()}`, input.dSae, 'ab'.repeat(32)],
  );
  for (const l of input.latents) {
    await ds.query(
      `INSERT INTO watchlist_latent (sae_id, latent_index, label, rules) VALUES ($1, $2, $3, $4)`,
      [id, l.index, l.label, l.rules === undefined ? null : JSON.stringify(l.rules)],
    );
  }
  for (const d of input.directions ?? []) {
    await ds.query(`INSERT INTO watchlist_direction (sae_id, name, vector, rules) VALUES ($1, $2, $3, $4)`, [
      id,
      d.name,
      [1, 0, 0, 0],
      d.rules === undefined ? null : JSON.stringify(d.rules),
    ]);
  }
  return id;
}

export async function seedRun(
  ds: DataSource,
  input: {
    saeId: string;
    project: string;
    name?: string;
    model?: string;
    baselineStep?: number | null;
    baselineRunId?: string | null;
  },
): Promise<string> {
  const [{ id }]: { id: string }[] = await ds.query(
    `INSERT INTO run (name, project, model, sae_id, baseline_step, baseline_run_id)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [
      input.name ?? 'run',
      input.project,
      input.model ?? 'llama',
      input.saeId,
      input.baselineStep ?? null,
      input.baselineRunId ?? null,
    ],
  );
  return id;
}

/** A done evaluation with its watched latents, directions and (optionally) the full mean vector. */
export async function seedEvaluation(
  ds: DataSource,
  input: {
    runId: string;
    step: number;
    latents: Map<number, SeedTarget>;
    directions?: Map<string, SeedTarget>;
    meanVector?: Float32Array;
  },
): Promise<string> {
  const [{ id }]: { id: string }[] = await ds.query(
    `INSERT INTO evaluation (run_id, step, status, content_sha256, object_key, size_bytes, n_tokens, n_prompts, finished_at)
     VALUES ($1, $2, 'done', $3, 'test/acts', 0, 64, $4, now()) RETURNING id`,
    [input.runId, input.step, randomUUID(), [...input.latents.values()][0]?.promptMeans.length ?? 0],
  );
  const lat = [...input.latents.entries()];
  await ds.query(
    `INSERT INTO evaluation_latent (evaluation_id, latent_index, mean, frac_active, max, prompt_means)
     SELECT $1, u.i, u.m, 0.1, u.m * 3, string_to_array(u.pm, ',')::real[]
       FROM unnest($2::int[], $3::float8[], $4::text[]) AS u(i, m, pm)`,
    [id, lat.map(([i]) => i), lat.map(([, v]) => v.mean), lat.map(([, v]) => v.promptMeans.join(','))],
  );
  const dirs = [...(input.directions ?? new Map<string, SeedTarget>()).entries()];
  if (dirs.length) {
    await ds.query(
      `INSERT INTO evaluation_direction (evaluation_id, name, mean, prompt_means)
       SELECT $1, u.n, u.m, string_to_array(u.pm, ',')::real[]
         FROM unnest($2::text[], $3::float8[], $4::text[]) AS u(n, m, pm)`,
      [id, dirs.map(([n]) => n), dirs.map(([, v]) => v.mean), dirs.map(([, v]) => v.promptMeans.join(','))],
    );
  }
  if (input.meanVector) {
    await ds.query(`INSERT INTO evaluation_vectors (evaluation_id, d_sae, mean) VALUES ($1, $2, $3)`, [
      id,
      input.meanVector.length,
      encodeF32le(input.meanVector),
    ]);
  }
  return id;
}

/** Deterministic pseudo-random numbers (mulberry32) and Gaussian draws for test data. */
export function rng(seed: number): { uniform: () => number; normal: () => number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() || 1e-12)) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}
