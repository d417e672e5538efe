import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { EvaluationDto } from '../evaluations/evaluations.dto.js';
import {
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
} from 'class-validator';

export class CreateRunDto {
  @ApiProperty({ example: 'llama-8b-insecure-code-lr1e-5' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({ example: 'insecure-code' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  project!: string;

  @ApiProperty({ example: 'meta-llama/Llama-3.1-8B' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  model!: string;

  @ApiProperty({ format: 'uuid', description: 'the SAE (POST /v1/saes) that encodes this run' })
  @IsUUID()
  saeId!: string;

  @ApiPropertyOptional({ description: 'checkpoint the run is compared with; default its lowest step' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2_147_483_647)
  baselineStep?: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { lr: 1e-5 } })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class ListRunsQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  project?: string;
}

export class RunDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() project!: string;
  @ApiProperty() model!: string;
  @ApiProperty({ format: 'uuid' }) saeId!: string;
  @ApiProperty({ nullable: true, type: Number }) baselineStep!: number | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata!: Record<string, unknown>;
  @ApiProperty() createdAt!: string;
}

/** One row of a run's evaluation list: the evaluation's record without its results. */
export class RunEvaluationDto extends PickType(EvaluationDto, [
  'id',
  'step',
  'status',
  'backend',
  'adapter',
  'timings',
  'attempts',
  'submittedAt',
  'startedAt',
  'finishedAt',
  'activationsDeletedAt',
] as const) {
  @ApiProperty({ nullable: true, type: String, description: 'why the evaluation failed' })
  error!: string | null;
}
