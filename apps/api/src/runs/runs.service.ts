import { Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type CreateRunDto, type RunDto, type RunEvaluationDto } from './runs.dto.js';
import { RunsRepository } from './runs.repository.js';

@Injectable()
export class RunsService {
  constructor(
    private readonly runs: RunsRepository,
    private readonly db: DataSource,
  ) {}

  async create(dto: CreateRunDto): Promise<RunDto> {
    const sae: unknown[] = await this.db.query('SELECT 1 FROM sae WHERE id = $1', [dto.saeId]);
    if (sae.length === 0) {
      throw new UnprocessableEntityException(
        `saeId ${dto.saeId} is not a registered SAE: register it first with POST /v1/saes`,
      );
    }
    return this.runs.insert({
      name: dto.name,
      project: dto.project,
      model: dto.model,
      saeId: dto.saeId,
      baselineStep: dto.baselineStep ?? null,
      metadata: dto.metadata ?? {},
    });
  }

  list(project?: string): Promise<RunDto[]> {
    return this.runs.list(project);
  }

  async get(id: string): Promise<RunDto> {
    const run = await this.runs.find(id);
    if (!run) throw new NotFoundException(`run ${id} not found`);
    return run;
  }

  async evaluations(id: string): Promise<RunEvaluationDto[]> {
    await this.get(id);
    return this.runs.evaluations(id);
  }
}
