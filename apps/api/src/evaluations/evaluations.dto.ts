import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export type EvaluationStatus = 'queued' | 'running' | 'done' | 'failed';

export class SubmittedEvaluationDto {
  @ApiProperty({ format: 'uuid' }) evaluationId!: string;
  @ApiProperty({ enum: ['queued', 'running', 'done', 'failed'] }) status!: EvaluationStatus;
}

export class EvaluationLatentDto {
  @ApiProperty() index!: number;
  @ApiProperty({ nullable: true, type: String, description: 'watchlist label; null if since removed' })
  label!: string | null;
  @ApiProperty() mean!: number;
  @ApiProperty() fracActive!: number;
  @ApiProperty() max!: number;
  @ApiProperty({ type: [Number] }) promptMeans!: number[];
}

export class EvaluationDirectionDto {
  @ApiProperty() name!: string;
  @ApiProperty() mean!: number;
  @ApiProperty({ type: [Number] }) promptMeans!: number[];
}

export class TopLatentDto {
  @ApiProperty() index!: number;
  @ApiProperty() mean!: number;
}

export class EvaluationDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) runId!: string;
  @ApiProperty() step!: number;
  @ApiProperty({ enum: ['queued', 'running', 'done', 'failed'] }) status!: EvaluationStatus;
  @ApiPropertyOptional({ description: 'why the evaluation failed' }) error?: string;
  @ApiProperty({ nullable: true, type: String, example: 'webgpu' }) backend!: string | null;
  @ApiProperty({ nullable: true, type: String }) adapter!: string | null;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: { type: 'number' },
    description: 'milliseconds per phase (download, load, encode, write, total)',
  })
  timings!: Record<string, number> | null;
  @ApiProperty() nTokens!: number;
  @ApiProperty() nPrompts!: number;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() attempts!: number;
  @ApiProperty() submittedAt!: string;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description:
      'when the uploaded activations were deleted from the object store (ACTIVATIONS_RETENTION_HOURS ' +
      'after the evaluation finished); the results stay. Null while they are kept',
  })
  activationsDeletedAt!: string | null;
  @ApiProperty({ type: [EvaluationLatentDto] }) latents!: EvaluationLatentDto[];
  @ApiProperty({ type: [EvaluationDirectionDto] }) directions!: EvaluationDirectionDto[];
  @ApiProperty({ type: [TopLatentDto], description: 'latents with the largest mean, largest first' })
  top!: TopLatentDto[];
}
