import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type RunDto, type RunEvaluationDto } from './runs.dto.js';
import { type EvaluationStatus } from '../evaluations/evaluations.dto.js';

/** The run table and the SAE facts an upload needs. */
@Injectable()
export class RunsRepository {
  constructor(private readonly db: DataSource) {}

  async insert(run: Omit<RunDto, 'id' | 'createdAt'>): Promise<RunDto> {
    const rows: RunRow[] = await this.db.query(
      `INSERT INTO run (name, project, model, sae_id, baseline_step, metadata)
       VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING ${RUN_COLUMNS}`,
      [run.name, run.project, run.model, run.saeId, run.baselineStep, run.metadata],
    );
    return toRun(rows[0]);
  }

  async find(id: string): Promise<RunDto | null> {
    const rows: RunRow[] = await this.db.query(`SELECT ${RUN_COLUMNS} FROM run WHERE id = $1`, [id]);
    return rows[0] ? toRun(rows[0]) : null;
  }

  async list(project?: string): Promise<RunDto[]> {
    const rows: RunRow[] = await this.db.query(
      `SELECT ${RUN_COLUMNS} FROM run WHERE ($1::text IS NULL OR project = $1) ORDER BY created_at DESC, id`,
      [project ?? null],
    );
    return rows.map(toRun);
  }

  /** What an upload to this run is checked against: the d_in its SAE encodes. */
  async findForUpload(id: string): Promise<{ runId: string; saeId: string; dIn: number } | null> {
    const rows: { sae_id: string; d_in: number }[] = await this.db.query(
      `SELECT r.sae_id, s.d_in FROM run r JOIN sae s ON s.id = r.sae_id WHERE r.id = $1`,
      [id],
    );
    return rows[0] ? { runId: id, saeId: rows[0].sae_id, dIn: rows[0].d_in } : null;
  }

  async evaluations(runId: string): Promise<RunEvaluationDto[]> {
    const rows: {
      id: string;
      step: number;
      status: EvaluationStatus;
      error: string | null;
      backend: string | null;
      adapter: string | null;
      timings: Record<string, number> | null;
      attempts: number;
      submitted_at: Date;
      started_at: Date | null;
      finished_at: Date | null;
      activations_deleted_at: Date | null;
    }[] = await this.db.query(
      `SELECT id, step, status, error, backend, adapter, timings, attempts,
              submitted_at, started_at, finished_at, activations_deleted_at
         FROM evaluation WHERE run_id = $1 ORDER BY step`,
      [runId],
    );
    return rows.map((r) => ({
      id: r.id,
      step: r.step,
      status: r.status,
      error: r.error,
      backend: r.backend,
      adapter: r.adapter,
      timings: r.timings,
      attempts: r.attempts,
      submittedAt: r.submitted_at.toISOString(),
      startedAt: r.started_at?.toISOString() ?? null,
      finishedAt: r.finished_at?.toISOString() ?? null,
      activationsDeletedAt: r.activations_deleted_at?.toISOString() ?? null,
    }));
  }
}

const RUN_COLUMNS = 'id, name, project, model, sae_id, baseline_step, metadata, created_at';

interface RunRow {
  id: string;
  name: string;
  project: string;
  model: string;
  sae_id: string;
  baseline_step: number | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

function toRun(r: RunRow): RunDto {
  return {
    id: r.id,
    name: r.name,
    project: r.project,
    model: r.model,
    saeId: r.sae_id,
    baselineStep: r.baseline_step,
    metadata: r.metadata,
    createdAt: r.created_at.toISOString(),
  };
}
