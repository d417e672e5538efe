import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Put,
  Req,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { AnyFilesInterceptor } from '@nestjs/platform-express';
import { ApiBody, ApiConsumes, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { type Request } from 'express';
import { tmpdir } from 'node:os';
import { uuidParam } from '../http/params.js';
import { RegisterSaeDto, SaeDto, StoredWatchlistDto, WatchlistDto } from './saes.dto.js';
import { SaesService, type UploadedSaeFile } from './saes.service.js';

@ApiTags('saes')
@Controller('v1/saes')
export class SaesController {
  constructor(private readonly saes: SaesService) {}

  @Post()
  @HttpCode(201)
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody({
    description: 'JSON {name, format, path} with a path on the API server, or multipart with the files',
    schema: {
      type: 'object',
      required: ['name', 'format'],
      properties: {
        name: { type: 'string' },
        format: { type: 'string', enum: ['saelens', 'gemma-scope', 'sparsify'] },
        path: { type: 'string' },
        files: { type: 'array', items: { type: 'string', format: 'binary' } },
      },
    },
  })
  @ApiCreatedResponse({ type: SaeDto })
  // Multipart files go to disk (SAE weights can be gigabytes), never into memory.
  @UseInterceptors(AnyFilesInterceptor({ dest: tmpdir() }))
  async register(
    @Body() dto: RegisterSaeDto,
    @UploadedFiles() files: UploadedSaeFile[] | undefined,
    @Req() req: Request,
  ): Promise<SaeDto> {
    const multipart = req.is('multipart/form-data') !== false && req.is('multipart/form-data') !== null;
    if (multipart) {
      if (dto.path !== undefined) {
        throw new BadRequestException('give either "path" or the files in the multipart body, not both');
      }
      return this.saes.registerFromUpload(dto, files ?? []);
    }
    if (dto.path === undefined) {
      throw new BadRequestException(
        '"path" is required: a folder or file readable by the API server (or send the files as multipart/form-data)',
      );
    }
    return this.saes.registerFromPath(dto);
  }

  @Get()
  @ApiOkResponse({ type: [SaeDto] })
  list(): Promise<SaeDto[]> {
    return this.saes.list();
  }

  @Get(':id')
  @ApiOkResponse({ type: SaeDto })
  get(@Param('id', uuidParam('id')) id: string) {
    return this.saes.get(id);
  }

  @Get(':id/watchlist')
  @ApiOkResponse({ type: StoredWatchlistDto })
  watchlist(@Param('id', uuidParam('id')) id: string): Promise<StoredWatchlistDto> {
    return this.saes.watchlist(id);
  }

  @Put(':id/watchlist')
  @ApiOkResponse({ type: StoredWatchlistDto })
  replaceWatchlist(
    @Param('id', uuidParam('id')) id: string,
    @Body() dto: WatchlistDto,
  ): Promise<StoredWatchlistDto> {
    return this.saes.replaceWatchlist(id, dto);
  }
}
