import { ApiPropertyOptional, ApiProperty } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUrl, MaxLength, MinLength } from 'class-validator';

export class AcknowledgeAlertDto {
  @ApiPropertyOptional({ description: 'who acknowledged' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  by?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  note?: string;
}

export class CreateWebhookDto {
  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  project!: string;

  @ApiProperty({ example: 'https://hooks.example.com/sentinel' })
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  url!: string;

  @ApiPropertyOptional({ description: 'HMAC-SHA256 key; generated (and returned once) when omitted' })
  @IsOptional()
  @IsString()
  @MinLength(16)
  @MaxLength(200)
  secret?: string;

  @ApiPropertyOptional({ enum: ['watch', 'warning', 'critical'] })
  @IsOptional()
  @IsIn(['watch', 'warning', 'critical'])
  minSeverity?: 'watch' | 'warning' | 'critical';
}
