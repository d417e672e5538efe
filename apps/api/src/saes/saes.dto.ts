import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

export const SAE_FORMATS = ['saelens', 'gemma-scope', 'sparsify'] as const;

export class RegisterSaeDto {
  @ApiProperty({ example: 'gemma-2-2b-res-12-16k' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({ enum: SAE_FORMATS })
  @IsIn(SAE_FORMATS, { message: `format must be one of ${SAE_FORMATS.join(', ')}` })
  format!: (typeof SAE_FORMATS)[number];

  @ApiPropertyOptional({
    description:
      'folder or file readable by the API server; omit it when sending the files as multipart/form-data',
  })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  path?: string;
}

export class SaeDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: SAE_FORMATS }) format!: string;
  @ApiProperty({ enum: ['standard', 'jumprelu', 'topk'] }) architecture!: string;
  @ApiProperty() dIn!: number;
  @ApiProperty() dSae!: number;
  @ApiProperty({ nullable: true, type: Number }) k!: number | null;
  @ApiProperty({ example: 'F32' }) dtype!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() sha256!: string;
  @ApiProperty() createdAt!: string;
}

export class WatchLatentDto {
  @ApiProperty({ example: 10 })
  @IsInt()
  @Min(0)
  index!: number;

  @ApiProperty({ example: 'toxic persona' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  label!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'detector settings' })
  @IsOptional()
  @IsObject()
  rules?: Record<string, unknown>;
}

export class WatchDirectionDto {
  @ApiProperty({ example: 'evil' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @ApiProperty({ type: [Number], description: 'd_in numbers' })
  @IsArray()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true })
  vector!: number[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'detector settings' })
  @IsOptional()
  @IsObject()
  rules?: Record<string, unknown>;
}

export class WatchlistDto {
  @ApiProperty({ type: [WatchLatentDto] })
  @IsArray()
  @ArrayMaxSize(10_000)
  // An element that is itself an array passes ValidateNested (it validates the inner list): refuse it.
  @IsObject({ each: true, message: '$property must hold objects' })
  @ValidateNested({ each: true })
  @Type(() => WatchLatentDto)
  latents!: WatchLatentDto[];

  @ApiProperty({ type: [WatchDirectionDto] })
  @IsArray()
  @ArrayMaxSize(1_000)
  // An element that is itself an array passes ValidateNested (it validates the inner list): refuse it.
  @IsObject({ each: true, message: '$property must hold objects' })
  @ValidateNested({ each: true })
  @Type(() => WatchDirectionDto)
  directions!: WatchDirectionDto[];
}

export class StoredWatchlistDto extends WatchlistDto {
  @ApiProperty({ format: 'uuid' }) saeId!: string;
}
