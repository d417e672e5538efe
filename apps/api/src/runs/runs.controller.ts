import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { uuidParam } from '../http/params.js';
import { CreateRunDto, ListRunsQuery, RunDto, RunEvaluationDto } from './runs.dto.js';
import { RunsService } from './runs.service.js';

@ApiTags('runs')
@Controller('v1/runs')
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: RunDto })
  create(@Body() dto: CreateRunDto): Promise<RunDto> {
    return this.runs.create(dto);
  }

  @Get()
  @ApiOkResponse({ type: [RunDto] })
  list(@Query() query: ListRunsQuery): Promise<RunDto[]> {
    return this.runs.list(query.project);
  }

  @Get(':id')
  @ApiOkResponse({ type: RunDto })
  get(@Param('id', uuidParam('id')) id: string): Promise<RunDto> {
    return this.runs.get(id);
  }

  @Get(':id/evaluations')
  @ApiOkResponse({ type: [RunEvaluationDto] })
  evaluations(@Param('id', uuidParam('id')) id: string): Promise<RunEvaluationDto[]> {
    return this.runs.evaluations(id);
  }
}
