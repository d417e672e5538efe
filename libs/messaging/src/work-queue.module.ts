import { Global, Inject, Injectable, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { SENTINEL_CONFIG } from '../../common/src/config/config.module.js';
import { type SentinelConfig } from '../../common/src/config/config.js';
import { NATS_NAMES, NatsClients } from './nats.module.js';
import { type NatsNames } from './names.js';
import { type Buckets, ensureWorkQueue, hasPendingJob, openBuckets, publishJob } from './work-queue.js';

/**
 * The jobs stream, the workers' durable consumer and the two object-store buckets, created (or found) at
 * start by every process that uses them, so neither the API nor a worker depends on the other starting first.
 */
@Injectable()
export class WorkQueueService implements OnModuleInit {
  private buckets?: Buckets;

  constructor(
    readonly clients: NatsClients,
    @Inject(NATS_NAMES) readonly names: NatsNames,
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const { streamUpdateDenied } = await ensureWorkQueue(await this.clients.jsm(), this.names, {
      ackWaitMs: this.config.ackWaitMs,
      replicas: this.config.natsReplicas,
    });
    if (streamUpdateDenied) {
      new Logger('WorkQueue').warn(
        `stream ${this.names.jobsStream} differs from this process's configuration and this NATS user ` +
          `may not update it (${streamUpdateDenied}); the API applies it when it starts`,
      );
    }
    this.buckets = await openBuckets(this.clients.nc, this.names, this.config.natsReplicas);
  }

  get activations() {
    return this.bucketsOrThrow().activations;
  }

  get saes() {
    return this.bucketsOrThrow().saes;
  }

  publish(evaluationId: string, msgId?: string) {
    return publishJob(this.clients.js, this.names, evaluationId, msgId);
  }

  async hasPendingJob(evaluationId: string): Promise<boolean> {
    return hasPendingJob(await this.clients.jsm(), this.names, evaluationId);
  }

  /** Jobs waiting plus jobs delivered and not yet acknowledged, as the consumer reports them. */
  async depth(): Promise<{ pending: number; inFlight: number }> {
    const jsm = await this.clients.jsm();
    const info = await jsm.consumers.info(this.names.jobsStream, this.names.workersConsumer);
    return { pending: info.num_pending, inFlight: info.num_ack_pending };
  }

  private bucketsOrThrow(): Buckets {
    if (!this.buckets) throw new Error('object-store buckets are not open yet (module not initialised)');
    return this.buckets;
  }
}

@Global()
@Module({ providers: [WorkQueueService], exports: [WorkQueueService] })
export class WorkQueueModule {}
