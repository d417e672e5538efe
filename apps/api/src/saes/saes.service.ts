import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  BadRequestException,
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { WorkQueueService, deleteSaeFiles, writeSaeFiles } from '../../../../libs/messaging/src/index.js';
import { loadSae, type Sae, SaeFormatError } from '../../../../libs/sae/src/index.js';
import { type RegisterSaeDto, type SaeDto, type StoredWatchlistDto, type WatchlistDto } from './saes.dto.js';
import { SaesRepository } from './saes.repository.js';

/** A file multer stored on disk for a multipart registration. */
export interface UploadedSaeFile {
  originalname: string;
  path: string;
  size: number;
}

/**
 * Registers SAEs: loads them with libs/sae (which checks every tensor and reads d_in, d_sae and the
 * architecture), copies their files into the SAE bucket under `saes/<id>/`, and inserts the row; and
 * keeps each SAE's watchlist.
 */
@Injectable()
export class SaesService {
  private readonly logger = new Logger(SaesService.name);

  constructor(
    private readonly saes: SaesRepository,
    private readonly queue: WorkQueueService,
  ) {}

  async registerFromPath(dto: RegisterSaeDto): Promise<SaeDto> {
    const path = dto.path!;
    let files: string[];
    try {
      const info = await stat(path);
      files = info.isDirectory()
        ? (await readdir(path, { withFileTypes: true }))
            .filter((e) => e.isFile())
            .map((e) => join(path, e.name))
        : [path];
    } catch (err) {
      throw new BadRequestException(
        `path ${path} cannot be read by the API server (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
          'give a folder or file on the server, or send the files as multipart/form-data',
      );
    }
    if (files.length === 0) throw new BadRequestException(`path ${path} is an empty folder`);
    return this.register(dto, path, files);
  }

  async registerFromUpload(dto: RegisterSaeDto, uploaded: UploadedSaeFile[]): Promise<SaeDto> {
    if (uploaded.length === 0) {
      throw new BadRequestException(
        'send the SAE files (e.g. cfg.json and sae_weights.safetensors) as multipart/form-data, or give "path"',
      );
    }
    // multer names its temporary files at random; the loaders need the real names side by side.
    const dir = await mkdtemp(join(tmpdir(), 'sentinel-sae-'));
    try {
      const files: string[] = [];
      for (const f of uploaded) {
        const name = basename(f.originalname);
        if (!name || name.startsWith('.'))
          throw new BadRequestException(`file name "${f.originalname}" is not allowed`);
        if (files.some((p) => basename(p) === name))
          throw new BadRequestException(`file "${name}" was sent twice`);
        await rename(f.path, join(dir, name));
        files.push(join(dir, name));
      }
      const source = uploaded.length === 1 ? files[0] : dir;
      return await this.register(dto, source, files);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await Promise.all(uploaded.map((f) => rm(f.path, { force: true })));
    }
  }

  async list(): Promise<SaeDto[]> {
    return this.saes.list();
  }

  async get(id: string): Promise<SaeDto & { watchlist: StoredWatchlistDto }> {
    const sae = await this.saes.find(id);
    if (!sae) throw new NotFoundException(`SAE ${id} not found`);
    return { ...sae, watchlist: await this.saes.watchlist(id) };
  }

  async watchlist(id: string): Promise<StoredWatchlistDto> {
    await this.mustExist(id);
    return this.saes.watchlist(id);
  }

  async replaceWatchlist(id: string, w: WatchlistDto): Promise<StoredWatchlistDto> {
    const sae = await this.mustExist(id);
    const seen = new Set<number>();
    w.latents.forEach((l, i) => {
      if (l.index >= sae.dSae) {
        throw new BadRequestException(
          `latents[${i}].index ${l.index} is out of range: this SAE has d_sae ${sae.dSae}`,
        );
      }
      if (seen.has(l.index)) throw new BadRequestException(`latents[${i}].index ${l.index} appears twice`);
      seen.add(l.index);
    });
    const names = new Set<string>();
    w.directions.forEach((d, i) => {
      if (d.vector.length !== sae.dIn) {
        throw new BadRequestException(
          `directions[${i}] ("${d.name}").vector has ${d.vector.length} numbers, expected d_in ${sae.dIn}`,
        );
      }
      if (!d.vector.some((v) => v !== 0)) {
        throw new BadRequestException(`directions[${i}] ("${d.name}").vector is all zeros`);
      }
      if (names.has(d.name)) throw new BadRequestException(`directions[${i}].name "${d.name}" appears twice`);
      names.add(d.name);
    });
    return this.saes.replaceWatchlist(id, w);
  }

  private async mustExist(id: string): Promise<SaeDto> {
    const sae = await this.saes.find(id);
    if (!sae) throw new NotFoundException(`SAE ${id} not found`);
    return sae;
  }

  private async register(dto: RegisterSaeDto, source: string, files: string[]): Promise<SaeDto> {
    if (await this.saes.nameTaken(dto.name)) {
      throw new ConflictException(`an SAE named "${dto.name}" is already registered`);
    }
    let sae: Sae;
    try {
      sae = await loadSae(source, dto.format);
    } catch (err) {
      if (err instanceof SaeFormatError) {
        throw new UnprocessableEntityException(`not a valid ${dto.format} SAE: ${err.message}`);
      }
      throw err;
    }
    const id = randomUUID();
    const contents = await Promise.all(
      files.map(async (f) => ({ name: basename(f), bytes: new Uint8Array(await readFile(f)) })),
    );
    const stored = await writeSaeFiles(this.queue.saes, id, contents);
    const row = await this.saes
      .insert({
        id,
        name: dto.name,
        format: dto.format,
        architecture: sae.architecture,
        dIn: sae.dIn,
        dSae: sae.dSae,
        k: sae.k ?? null,
        dtype: sae.sourceDtype,
        config: {
          normalizeActivations: sae.normalizeActivations,
          applyBDecToInput: sae.applyBDecToInput,
          files: contents.map((c) => c.name),
        },
        ...stored,
      })
      .catch(async (err: unknown) => {
        await deleteSaeFiles(
          this.queue.saes,
          stored.objectKey,
          contents.map((c) => c.name),
        );
        throw err;
      });
    if (!row) {
      await deleteSaeFiles(
        this.queue.saes,
        stored.objectKey,
        contents.map((c) => c.name),
      );
      throw new ConflictException(`an SAE named "${dto.name}" is already registered`);
    }
    this.logger.log({ saeId: id, name: dto.name, dIn: sae.dIn, dSae: sae.dSae }, 'SAE registered');
    return row;
  }
}
