import { Injectable } from '@nestjs/common';
import pg from 'pg';
import { type EntityManager } from 'typeorm';
import { type Baseline, type CheckpointStat, type Observation, type TargetKind } from './detectors.js';
import { type RisingLatent } from './model-diff.js';

export interface RunRow {
  id: string;
  project: string;
  model: string;
  sae_id: string;
  baseline_step: number | null;
  baseline_run_id: string | null;
}

export interface WatchedTarget {
  kind: TargetKind;
  index?: number;
  name?: string;
  label: string;
  rules: unknown;
}

export interface TargetStatRow extends CheckpointStat {
  target: string;
  kind: TargetKind;
  latentIndex: number | null;
  directionName: string | null;
}

interface StoredTargetStat {
  evaluation_id: string;
  target: string;
  step: number;
  baseline_evaluation_id: string;
  mean: number;
  baseline_mean: number;
  delta: number;
  n_prompts: number;
  se: number | null;
  t: number | null;
  p: number | null;
  z: number | null;
  cusum: number;
  trend_p: number | null;
  trend_slope: number | null;
}

/** Equal as IS NOT DISTINCT FROM, or stricter: NaN never equals (see targetStatChanges). */
function same(a: number | string | null, b: number | string | null): boolean {
  return a === b;
}

/** The columns the upsert compares (and writes), stored row against derived row. */
export function sameTargetStat(s: StoredTargetStat, u: TargetStatRow, baselineEvaluationId: string): boolean {
  return (
    same(s.step, u.step) &&
    same(s.baseline_evaluation_id, baselineEvaluationId) &&
    same(s.mean, u.mean) &&
    same(s.baseline_mean, u.baselineMean) &&
    same(s.delta, u.delta) &&
    same(s.n_prompts, u.nPrompts) &&
    same(s.se, u.se) &&
    same(s.t, u.t) &&
    same(s.p, u.p) &&
    same(s.z, u.z) &&
    same(s.cusum, u.cusum) &&
    same(s.trend_p, u.trendP) &&
    same(s.trend_slope, u.trendSlope)
  );
}

/** pg's parser of a real[] (type 1021) in text form, which the driver applies to a real[] column. */
const parseFloatArrayText = (pg.types.getTypeParser as (oid: number, format: 'text') => unknown)(
  1021,
  'text',
) as (text: string) => (number | null)[];

/**
 * A real[] (or float8[]) in Postgres's text form, parsed to what pg's own parser gives (parseFloat of each
 * element, NULL as null), faster: a one-dimensional array of unquoted elements — what Postgres prints for
 * a real[] — is split on commas; anything else (quotes, escapes, nesting, bounds) goes to pg's parser.
 */
export function parseFloatArray(text: string | null): (number | null)[] | null {
  if (text === null) return null;
  const n = text.length;
  if (n < 2 || text.charCodeAt(0) !== 123 /* { */ || text.charCodeAt(n - 1) !== 125 /* } */) {
    return parseFloatArrayText(text);
  }
  const inner = text.slice(1, -1);
  if (/[{}"\\\s]/.test(inner)) return parseFloatArrayText(text);
  if (inner === '') return [];
  const parts = inner.split(',');
  const out: (number | null)[] = new Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part === '') return parseFloatArrayText(text);
    out[i] = part === 'NULL' ? null : parseFloat(part);
  }
  return out;
}

/**
 * Reads a run's evaluation results and writes what early warning derives from them. Every method takes
 * the transaction's EntityManager: processEvaluation does all of it in one transaction.
 */
@Injectable()
export class AnalysisRepository {
  async findEvaluationRun(m: EntityManager, evaluationId: string): Promise<string | null> {
    const rows: { run_id: string }[] = await m.query(`SELECT run_id FROM evaluation WHERE id = $1`, [
      evaluationId,
    ]);
    return rows[0]?.run_id ?? null;
  }

  /**
   * Locks the run for this transaction: two workers finishing checkpoints of one run recompute one after
   * the other. An advisory lock rather than FOR UPDATE, which would need UPDATE on `run` — a privilege
   * the worker's role does not have (migrations/1764401000000-AppRoles.ts).
   */
  async lockRun(m: EntityManager, runId: string): Promise<RunRow | null> {
    await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('sentinel.run:' || $1, 0))`, [runId]);
    const rows: RunRow[] = await m.query(
      `SELECT id, project, model, sae_id, baseline_step, baseline_run_id FROM run WHERE id = $1`,
      [runId],
    );
    return rows[0] ?? null;
  }

  /** The baseline checkpoint: the named step of the baseline run (this run by default), else its lowest done step. */
  async findBaseline(
    m: EntityManager,
    run: RunRow,
  ): Promise<{ id: string; runId: string; step: number } | null> {
    const baselineRunId = run.baseline_run_id ?? run.id;
    const rows: { id: string; step: number }[] =
      run.baseline_step === null
        ? await m.query(
            `SELECT id, step FROM evaluation WHERE run_id = $1 AND status = 'done' ORDER BY step LIMIT 1`,
            [baselineRunId],
          )
        : await m.query(
            `SELECT id, step FROM evaluation WHERE run_id = $1 AND step = $2 AND status = 'done'`,
            [baselineRunId, run.baseline_step],
          );
    return rows[0] ? { id: rows[0].id, runId: baselineRunId, step: rows[0].step } : null;
  }

  async watchlist(m: EntityManager, saeId: string): Promise<WatchedTarget[]> {
    const latents: { latent_index: number; label: string; rules: unknown }[] = await m.query(
      `SELECT latent_index, label, rules FROM watchlist_latent WHERE sae_id = $1 ORDER BY latent_index`,
      [saeId],
    );
    const directions: { name: string; rules: unknown }[] = await m.query(
      `SELECT name, rules FROM watchlist_direction WHERE sae_id = $1 ORDER BY name`,
      [saeId],
    );
    return [
      ...latents.map((l) => ({
        kind: 'latent' as const,
        index: l.latent_index,
        label: l.label,
        rules: l.rules,
      })),
      ...directions.map((d) => ({ kind: 'direction' as const, name: d.name, label: d.name, rules: d.rules })),
    ];
  }

  /**
   * Every done checkpoint's value of every watched latent and direction, keyed by target key. With
   * `evaluationId` set, only that evaluation (the baseline, possibly another run's).
   */
  async series(
    m: EntityManager,
    saeId: string,
    scope: { runId: string } | { evaluationId: string },
  ): Promise<Map<string, Observation[]>> {
    const byRun = 'runId' in scope;
    const where = byRun ? `e.run_id = $2 AND e.status = 'done'` : `e.id = $2`;
    const param = byRun ? scope.runId : scope.evaluationId;
    // prompt_means as text, parsed by parseFloatArray: the same numbers pg's real[] parser gives, in a
    // third of the time (a run of 1,000 checkpoints × 16 latents is 512,000 of them).
    const rows: {
      key: string;
      evaluation_id: string;
      step: number;
      mean: number;
      prompt_means: string | null;
    }[] = await m.query(
      `SELECT 'latent:' || l.latent_index AS key, e.id AS evaluation_id, e.step, l.mean, l.prompt_means::text
           FROM evaluation e
           JOIN evaluation_latent l ON l.evaluation_id = e.id
           JOIN watchlist_latent w ON w.sae_id = $1 AND w.latent_index = l.latent_index
          WHERE ${where}
         UNION ALL
         SELECT 'direction:' || d.name, e.id, e.step, d.mean, d.prompt_means::text
           FROM evaluation e
           JOIN evaluation_direction d ON d.evaluation_id = e.id
           JOIN watchlist_direction w ON w.sae_id = $1 AND w.name = d.name
          WHERE ${where}
          ORDER BY 1, 3`,
      [saeId, param],
    );
    const out = new Map<string, Observation[]>();
    for (const r of rows) {
      let list = out.get(r.key);
      if (!list) out.set(r.key, (list = []));
      list.push({
        evaluationId: r.evaluation_id,
        step: r.step,
        mean: r.mean,
        promptMeans: (parseFloatArray(r.prompt_means) as number[] | null) ?? [],
      });
    }
    return out;
  }

  baselineObservation(baseline: { id: string; runId: string }, obs: Observation): Baseline {
    return { ...obs, runId: baseline.runId };
  }

  /**
   * Writes the run's per-checkpoint statistics: upserts rows that changed (an unchanged recompute writes
   * nothing) and deletes rows no longer derived (a target removed from the watchlist, a new baseline).
   */
  async replaceTargetStats(
    m: EntityManager,
    runId: string,
    baselineEvaluationId: string,
    derived: TargetStatRow[],
  ): Promise<void> {
    // Only rows that differ from what is stored travel to Postgres, and only stored rows no longer derived
    // are deleted: a recompute after one new checkpoint sends one checkpoint's rows, a redelivery none.
    // The statements are the ones that used to take every row (the INSERT still skips rows equal to the
    // stored ones), so the stored result is the same; what changed is how many rows they are given.
    const { rows, stale } = await this.targetStatChanges(m, runId, baselineEvaluationId, derived);
    if (rows.length) await this.upsertTargetStats(m, runId, baselineEvaluationId, rows);
    if (stale.length) {
      await m.query(
        `DELETE FROM evaluation_target_stat s
          WHERE s.run_id = $1
            AND (s.evaluation_id, s.target) IN (SELECT * FROM unnest($2::uuid[], $3::text[]))`,
        [runId, stale.map((k) => k.evaluationId), stale.map((k) => k.target)],
      );
    }
  }

  /**
   * The derived rows that differ from the stored ones (or are not stored), and the stored keys not derived
   * any more. Equality is what the INSERT's IS DISTINCT FROM would decide, or stricter: a float8 read
   * back is the stored double exactly when extra_float_digits ≥ 1 (shortest exact output, Postgres ≥ 12;
   * otherwise every row counts as changed and the INSERT decides, as before); a NaN always counts as a
   * change (Postgres holds NaN = NaN; the INSERT then skips the row). The run's advisory lock keeps other
   * writers of its rows out between this read and the writes.
   */
  private async targetStatChanges(
    m: EntityManager,
    runId: string,
    baselineEvaluationId: string,
    derived: TargetStatRow[],
  ): Promise<{ rows: TargetStatRow[]; stale: { evaluationId: string; target: string }[] }> {
    const [{ exact }]: { exact: boolean }[] = await m.query(
      `SELECT current_setting('extra_float_digits')::int >= 1 AS exact`,
    );
    const stored: StoredTargetStat[] = await m.query(
      `SELECT evaluation_id, target, step, baseline_evaluation_id, mean, baseline_mean, delta, n_prompts, se, t,
              p, z, cusum, trend_p, trend_slope
         FROM evaluation_target_stat WHERE run_id = $1`,
      [runId],
    );
    const byKey = new Map<string, StoredTargetStat>();
    for (const row of stored) byKey.set(`${row.evaluation_id}|${row.target}`, row);
    const rows: TargetStatRow[] = [];
    for (const row of derived) {
      const key = `${row.evaluationId}|${row.target}`;
      const old = byKey.get(key);
      byKey.delete(key);
      if (!exact || !old || !sameTargetStat(old, row, baselineEvaluationId)) rows.push(row);
    }
    const stale = [...byKey.values()].map((r) => ({ evaluationId: r.evaluation_id, target: r.target }));
    return { rows, stale };
  }

  private async upsertTargetStats(
    m: EntityManager,
    runId: string,
    baselineEvaluationId: string,
    rows: TargetStatRow[],
  ): Promise<void> {
    const col = <K extends keyof TargetStatRow>(k: K) => rows.map((r) => r[k]);
    // Only new or changed rows reach the INSERT: ON CONFLICT DO UPDATE would lock (and dirty) every
    // conflicting row even when its WHERE skips the update, and a recompute usually changes one checkpoint.
    await m.query(
      `WITH u AS (
         SELECT * FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::int[], $8::text[], $9::float8[],
                              $10::float8[], $11::float8[], $12::int[], $13::float8[], $14::float8[], $15::float8[],
                              $16::float8[], $17::float8[], $18::float8[], $19::float8[])
           AS u(evaluation_id, target, step, kind, latent_index, direction_name, mean, baseline_mean, delta,
                n_prompts, se, t, p, z, cusum, trend_p, trend_slope)),
       changed AS (
         SELECT u.* FROM u
           LEFT JOIN evaluation_target_stat s ON s.evaluation_id = u.evaluation_id AND s.target = u.target
          WHERE s.evaluation_id IS NULL
             OR (s.step, s.baseline_evaluation_id, s.mean, s.baseline_mean, s.delta, s.n_prompts, s.se, s.t, s.p,
                 s.z, s.cusum, s.trend_p, s.trend_slope)
                IS DISTINCT FROM
                (u.step, $2::uuid, u.mean, u.baseline_mean, u.delta, u.n_prompts, u.se, u.t, u.p, u.z, u.cusum,
                 u.trend_p, u.trend_slope))
       INSERT INTO evaluation_target_stat AS s
         (evaluation_id, target, run_id, step, kind, latent_index, direction_name, baseline_evaluation_id,
          mean, baseline_mean, delta, n_prompts, se, t, p, z, cusum, trend_p, trend_slope)
       SELECT c.evaluation_id, c.target, $1, c.step, c.kind, c.latent_index, c.direction_name, $2,
              c.mean, c.baseline_mean, c.delta, c.n_prompts, c.se, c.t, c.p, c.z, c.cusum, c.trend_p, c.trend_slope
         FROM changed c
       ON CONFLICT (evaluation_id, target) DO UPDATE SET
         step = EXCLUDED.step, baseline_evaluation_id = EXCLUDED.baseline_evaluation_id, mean = EXCLUDED.mean,
         baseline_mean = EXCLUDED.baseline_mean, delta = EXCLUDED.delta, n_prompts = EXCLUDED.n_prompts,
         se = EXCLUDED.se, t = EXCLUDED.t, p = EXCLUDED.p, z = EXCLUDED.z, cusum = EXCLUDED.cusum,
         trend_p = EXCLUDED.trend_p, trend_slope = EXCLUDED.trend_slope`,
      [
        runId,
        baselineEvaluationId,
        col('evaluationId'),
        col('target'),
        col('step'),
        col('kind'),
        col('latentIndex'),
        col('directionName'),
        col('mean'),
        col('baselineMean'),
        col('delta'),
        col('nPrompts'),
        col('se'),
        col('t'),
        col('p'),
        col('z'),
        col('cusum'),
        col('trendP'),
        col('trendSlope'),
      ],
    );
  }

  async deleteRunDerived(m: EntityManager, runId: string): Promise<void> {
    await m.query(`DELETE FROM evaluation_target_stat WHERE run_id = $1`, [runId]);
    await m.query(`DELETE FROM evaluation_rising_latent WHERE run_id = $1`, [runId]);
  }

  /**
   * Done evaluations of the run whose rising latents are missing or were computed against another
   * baseline (drops the stale ones). Evaluations with no f32le vectors in Postgres are skipped.
   */
  async evaluationsNeedingRising(
    m: EntityManager,
    runId: string,
    baselineEvaluationId: string,
  ): Promise<{ id: string; step: number }[]> {
    await m.query(`DELETE FROM evaluation_rising_latent WHERE run_id = $1 AND baseline_evaluation_id <> $2`, [
      runId,
      baselineEvaluationId,
    ]);
    return m.query(
      `SELECT e.id, e.step FROM evaluation e JOIN evaluation_vectors v ON v.evaluation_id = e.id
        WHERE e.run_id = $1 AND e.status = 'done' AND e.id <> $2 AND v.mean IS NOT NULL AND v.encoding = 'f32le'
          AND NOT EXISTS (SELECT 1 FROM evaluation_rising_latent x WHERE x.evaluation_id = e.id)
        ORDER BY e.step`,
      [runId, baselineEvaluationId],
    );
  }

  async meanVector(m: EntityManager, evaluationId: string): Promise<Buffer | null> {
    const rows: { mean: Buffer | null }[] = await m.query(
      `SELECT mean FROM evaluation_vectors WHERE evaluation_id = $1 AND encoding = 'f32le'`,
      [evaluationId],
    );
    return rows[0]?.mean ?? null;
  }

  async writeRising(
    m: EntityManager,
    evaluation: { id: string; step: number },
    runId: string,
    baselineEvaluationId: string,
    latents: RisingLatent[],
  ): Promise<void> {
    await m.query(`DELETE FROM evaluation_rising_latent WHERE evaluation_id = $1`, [evaluation.id]);
    if (!latents.length) return;
    await m.query(
      `INSERT INTO evaluation_rising_latent
         (evaluation_id, rank, run_id, step, baseline_evaluation_id, latent_index, mean, baseline_mean, delta)
       SELECT $1, u.ord::int, $2, $3, $4, u.latent_index, u.mean, u.baseline_mean, u.delta
         FROM unnest($5::int[], $6::float8[], $7::float8[], $8::float8[])
              WITH ORDINALITY AS u(latent_index, mean, baseline_mean, delta, ord)`,
      [
        evaluation.id,
        runId,
        evaluation.step,
        baselineEvaluationId,
        latents.map((l) => l.index),
        latents.map((l) => l.mean),
        latents.map((l) => l.baselineMean),
        latents.map((l) => l.delta),
      ],
    );
  }
}
