import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  MetricsService,
  PeriodicTask,
  SENTINEL_CONFIG,
  type SentinelConfig,
} from '../../../../libs/common/src/index.js';
import { WorkQueueService } from '../../../../libs/messaging/src/index.js';
import { ActivationsRetentionRepository } from './activations-retention.repository.js';

/** Objects deleted per pass at most; the next pass takes the rest. */
const BATCH = 100;

export interface RetentionPass {
  /** Evaluations whose activations object was deleted and recorded as deleted in this pass. */
  deleted: string[];
  /** Bytes of those uploads (their `size_bytes`). */
  bytes: number;
  /** The evaluation whose object could not be deleted (the pass stops there; the next one retries). */
  failed?: string;
}

/**
 * Deletes the uploaded activations of finished evaluations from the object store once
 * ACTIVATIONS_RETENTION_HOURS have passed since they finished (`done`, whose results are in Postgres, and
 * `failed`, which a re-upload of the checkpoint retries from a new object). Runs in the API, whose NATS
 * user may delete objects (the workers' may not). Each pass, in one transaction: select a bounded batch of
 * due evaluations (rows locked, so replicas share the work), delete each object, and mark the row only
 * after its delete succeeded. Deleting an object that is already gone is a no-op, so a crash between a
 * delete and the commit is repaired by the next pass deleting (nothing) and marking again.
 */
@Injectable()
export class ActivationsRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ActivationsRetentionService.name);
  private readonly task = new PeriodicTask(
    () => this.pass(),
    (err) => this.logger.warn({ err }, 'activations retention failed; next pass retries'),
  );
  private readonly deletedObjects;
  private readonly deletedBytes;

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly repo: ActivationsRetentionRepository,
    private readonly queue: WorkQueueService,
    metrics: MetricsService,
  ) {
    this.deletedObjects = metrics.counter(
      'sentinel_activations_deleted_total',
      'Uploaded activations objects deleted from the object store by the retention pass',
    );
    this.deletedBytes = metrics.counter(
      'sentinel_activations_deleted_bytes_total',
      'Bytes of uploaded activations deleted from the object store by the retention pass',
    );
  }

  /** A tenth of the retention, between 1 s (retention 0: deleted about a second after finishing) and 60 s. */
  get intervalMs(): number {
    const retentionMs = (this.config.activationsRetentionHours ?? 0) * 3_600_000;
    return Math.min(60_000, Math.max(1_000, Math.floor(retentionMs / 10)));
  }

  onApplicationBootstrap(): void {
    if (this.config.activationsRetentionHours === null) return; // `forever`
    this.task.start(this.intervalMs);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; with retention `forever`, does nothing. */
  async pass(): Promise<RetentionPass> {
    const hours = this.config.activationsRetentionHours;
    if (hours === null) return { deleted: [], bytes: 0 };
    const result = await this.repo.withExpired(this.config.natsPrefix, hours, BATCH, async (tx, expired) => {
      const out: RetentionPass = { deleted: [], bytes: 0 };
      for (const e of expired) {
        try {
          // Resolves (purging nothing) when the object is already gone.
          await this.queue.activations.delete(e.objectKey);
        } catch (err) {
          // Most likely NATS is away: the rest would fail the same way. Marks so far commit below.
          this.logger.warn(
            { err, evaluationId: e.id, object: e.objectKey },
            'could not delete activations; next pass retries',
          );
          out.failed = e.id;
          break;
        }
        if (await this.repo.markDeleted(tx, e.id, e.objectKey)) {
          out.deleted.push(e.id);
          out.bytes += e.sizeBytes;
        }
      }
      return out;
    });
    if (result.deleted.length) {
      this.deletedObjects.inc(result.deleted.length);
      this.deletedBytes.inc(result.bytes);
      this.logger.log(
        { evaluations: result.deleted.length, bytes: result.bytes },
        'activations past retention deleted from the object store',
      );
    }
    return result;
  }
}
