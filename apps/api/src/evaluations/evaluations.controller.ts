import {
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Put,
  Req,
  Res,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { type Request, type Response } from 'express';
import { stepParam, uuidParam } from '../http/params.js';
import { EvaluationDto, SubmittedEvaluationDto } from './evaluations.dto.js';
import { EvaluationsRepository } from './evaluations.repository.js';
import { IngestService } from './ingest.service.js';

@ApiTags('evaluations')
@Controller('v1')
export class EvaluationsController {
  constructor(
    private readonly ingest: IngestService,
    private readonly evaluations: EvaluationsRepository,
  ) {}

  @Put('runs/:runId/checkpoints/:step/activations')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Upload the activations of one checkpoint (streamed; safetensors or .npy)',
    description:
      'The same (run, step) with the same bytes returns the same evaluation; with different bytes, 409.',
  })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiAcceptedResponse({ type: SubmittedEvaluationDto })
  async upload(
    @Param('runId', uuidParam('runId')) runId: string,
    @Param('step', stepParam('step')) step: number,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SubmittedEvaluationDto> {
    try {
      if (step < 0 || step > 2_147_483_647) throw new NotFoundException(`step ${step} is out of range`);
      const type = req.headers['content-type'];
      if (type !== undefined && !type.startsWith('application/octet-stream')) {
        throw new UnsupportedMediaTypeException(
          `Content-Type must be application/octet-stream, got "${type}" ` +
            `(curl: -H 'Content-Type: application/octet-stream' --data-binary @activations.safetensors)`,
        );
      }
      const { evaluationId, status } = await this.ingest.submit(runId, step, req);
      return { evaluationId, status };
    } catch (err) {
      // Refused before the body ended: answer now and close the connection rather than read the rest.
      if (!req.complete) {
        res.setHeader('Connection', 'close');
        req.resume();
      }
      throw err;
    }
  }

  @Get('evaluations/:id')
  @ApiOkResponse({ type: EvaluationDto })
  async get(@Param('id', uuidParam('id')) id: string): Promise<EvaluationDto> {
    const evaluation = await this.evaluations.get(id);
    if (!evaluation) throw new NotFoundException(`evaluation ${id} not found`);
    return evaluation;
  }
}
