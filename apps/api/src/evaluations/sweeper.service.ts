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
import { SweeperRepository } from './sweeper.repository.js';

/** Evaluations looked at per tick; the next tick takes the rest. */
const BATCH = 500;

/**
 * Makes "queued in Postgres" imply "a job in the stream" (for the evaluations of this NATS_PREFIX). An acknowledged publish can still be lost
 * (Jepsen, NATS 2.12.1), and the API can crash between the insert and the publish; a worker can die with
 * an evaluation `running`. Each tick, under a Postgres advisory lock so one replica acts:
 *
 * 1. `running` evaluations without a heartbeat for STALE_RUNNING_MS go back to `queued`;
 * 2. every evaluation `queued` for longer than REQUEUE_AFTER_MS since its last publish is checked against
 *    the stream: if no job for it is there (each evaluation has its own subject), one is published with a
 *    fresh Nats-Msg-Id (the original id may still sit in the duplicate window and would be dropped).
 *
 * Publishing twice is harmless: the worker claims an evaluation in Postgres and skips finished ones.
 */
@Injectable()
export class SweeperService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SweeperService.name);
  private readonly task = new PeriodicTask(
    () => this.sweep(),
    (err) => this.logger.warn({ err }, 'sweep failed; next tick retries'),
  );
  private readonly republished;
  private readonly requeued;

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly repo: SweeperRepository,
    private readonly queue: WorkQueueService,
    metrics: MetricsService,
  ) {
    this.republished = metrics.counter(
      'sentinel_sweeper_republished_total',
      'Queued evaluations whose job was missing from the stream and was published again',
    );
    this.requeued = metrics.counter(
      'sentinel_sweeper_requeued_total',
      'Running evaluations without a heartbeat that went back to the queue',
    );
  }

  /** Ticks at a quarter of the shorter deadline, between 250 ms and 10 s. */
  get intervalMs(): number {
    const shorter = Math.min(this.config.requeueAfterMs, this.config.staleRunningMs);
    return Math.min(10_000, Math.max(250, Math.floor(shorter / 4)));
  }

  onApplicationBootstrap(): void {
    this.task.start(this.intervalMs);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; returns what it did, or null when another replica holds the lock. */
  async sweep(): Promise<{ requeued: string[]; republished: string[] } | null> {
    const prefix = this.config.natsPrefix;
    return this.repo.withLock(prefix, async (tx) => {
      const requeued = await this.repo.requeueStale(tx, prefix, this.config.staleRunningMs);
      if (requeued.length) {
        this.requeued.inc(requeued.length);
        this.logger.warn({ evaluations: requeued }, 'running evaluations without heartbeat requeued');
      }
      const republished: string[] = [];
      for (const id of await this.repo.overdue(tx, prefix, this.config.requeueAfterMs, BATCH)) {
        if (!(await this.queue.hasPendingJob(id))) {
          await this.queue.publish(id, `${id}:${Date.now()}`);
          republished.push(id);
        }
        // Either way the job is now in the stream; look again after another REQUEUE_AFTER_MS.
        await this.repo.touchPublished(tx, id);
      }
      if (republished.length) {
        this.republished.inc(republished.length);
        this.logger.warn({ evaluations: republished }, 'jobs missing from the stream published again');
      }
      return { requeued, republished };
    });
  }
}
