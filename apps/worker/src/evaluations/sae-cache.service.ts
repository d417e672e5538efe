import { Inject, Injectable, Logger } from '@nestjs/common';
import { SENTINEL_CONFIG, type SentinelConfig } from '../../../../libs/common/src/index.js';
import { WorkQueueService, readSaeFiles } from '../../../../libs/messaging/src/index.js';
import { loadSaeFromFiles, type Sae, type SaeFormat } from '../../../../libs/sae/src/index.js';
import { EngineService } from './engine.service.js';
import { PermanentEvaluationError } from '../transport/job-outcome.js';

export interface SaeRef {
  id: string;
  format: string;
  objectKey: string;
}

interface Entry {
  sae: Sae;
  bytes: number;
  /** Jobs using it now: an SAE in use is never evicted. */
  users: number;
}

/**
 * SAEs a worker keeps loaded between jobs, least recently used first out, bounded by SAE_CACHE_BYTES of
 * f32 weights. Evicting one calls the backend's `release`, which frees its GPU buffers; while cached, the
 * backend keeps the weights on the device, so consecutive jobs of one SAE upload nothing.
 */
@Injectable()
export class SaeCacheService {
  private readonly logger = new Logger(SaeCacheService.name);
  /** Map order is recency: the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  hits = 0;
  misses = 0;

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly queue: WorkQueueService,
    private readonly engine: EngineService,
  ) {}

  get bytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    return total;
  }

  /** The SAE, loaded once; call `release()` when the job is finished with it. */
  async acquire(ref: SaeRef): Promise<{ sae: Sae; release: () => void }> {
    let entry = this.entries.get(ref.id);
    if (entry) {
      this.hits++;
      this.entries.delete(ref.id);
      this.entries.set(ref.id, entry);
    } else {
      this.misses++;
      let pending = this.loading.get(ref.id);
      if (!pending) {
        pending = this.load(ref).finally(() => this.loading.delete(ref.id));
        this.loading.set(ref.id, pending);
      }
      entry = await pending;
      if (!this.entries.has(ref.id)) this.entries.set(ref.id, entry);
    }
    entry.users++;
    this.evict();
    let released = false;
    const held = entry;
    return {
      sae: entry.sae,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        this.evict();
      },
    };
  }

  private async load(ref: SaeRef): Promise<Entry> {
    const files = await readSaeFiles(this.queue.saes, ref.objectKey);
    if (!files) {
      throw new PermanentEvaluationError(
        `SAE ${ref.id}: its files (${ref.objectKey}) are missing from the object store; register it again`,
      );
    }
    const sae = await loadSaeFromFiles(files, ref.format as SaeFormat, `sae ${ref.id}`);
    return { sae, bytes: saeBytes(sae), users: 0 };
  }

  private evict(): void {
    let total = this.bytes;
    for (const [id, entry] of this.entries) {
      if (total <= this.config.saeCacheBytes) break;
      if (entry.users > 0) continue;
      this.entries.delete(id);
      total -= entry.bytes;
      void this.engine
        .get()
        .then((b) => b.release(entry.sae))
        .catch((err: unknown) => this.logger.warn({ err, sae: id }, 'release failed'));
      this.logger.log({ sae: id, bytes: entry.bytes }, 'SAE evicted from the cache');
    }
  }
}

/** f32 bytes of the weights a backend holds for the SAE. */
export function saeBytes(sae: Sae): number {
  return sae.wEnc.byteLength + sae.bEnc.byteLength + sae.bDec.byteLength + (sae.threshold?.byteLength ?? 0);
}
