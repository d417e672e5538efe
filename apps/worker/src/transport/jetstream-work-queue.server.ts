import { setTimeout as sleep } from 'node:timers/promises';
import { type Consumer, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { JetStreamJobContext } from './jetstream-job.context.js';
import { outcomeOf } from './job-outcome.js';

export interface JetStreamWorkQueueOptions {
  js: JetStreamClient;
  stream: string;
  /** The durable pull consumer every worker process shares. */
  consumer: string;
  /** The handler pattern every message of the stream is dispatched to. */
  pattern: string;
  /** Jobs this process runs at once. */
  concurrency: number;
  /** The consumer's ack_wait: `working()` is sent at a third of it while a job runs. */
  ackWaitMs: number;
  maxDeliver: number;
  /** nak delay after the n-th failed delivery: min(maxMs, baseMs · 2^(n-1)). */
  backoff?: { baseMs: number; maxMs: number };
  /** How long one pull waits for a message; also bounds how long close() waits for an idle slot. */
  pullExpiresMs?: number;
  /** Awaited by close() after the last job settled: work the handlers left running (post-commit hooks). */
  afterDrain?: () => Promise<void>;
  /**
   * Whether the dependencies answer (the worker's readiness probes: Postgres, NATS). After a job ends in
   * a transient outcome, its slot pulls nothing until this resolves true, so an outage costs each slot one
   * delivery instead of a burst of failed deliveries through the queue.
   */
  ready?: () => Promise<boolean>;
  /** How often a waiting slot asks `ready` again. */
  readyPollMs?: number;
}

/**
 * A Nest transport over a JetStream work queue, written on @nats-io/jetstream because Nest's own NATS
 * transport is core NATS only, and the community JetStream transports push-subscribe and terminate a
 * message on its first error.
 *
 * `concurrency` slots each pull one message at a time from the one durable pull consumer all workers
 * share (so a message is never buffered in a process that is busy), dispatch it to the handler of
 * `pattern`, and settle it from the handler's outcome:
 *
 * - returned normally → `ackAck()` (the handler has committed its results);
 * - PermanentEvaluationError → `term()` (the handler has recorded the failure);
 * - AbandonDeliveryError → nothing (a newer delivery of the same job owns it);
 * - HandBackEvaluationError → `ackAck()` without a verdict: an infrastructure outage on the last allowed
 *   delivery; the evaluation is still `queued`/`running` in Postgres and the sweeper publishes a new job;
 * - anything else → `nak(delay)` with exponential backoff. The handler itself turns the failure of the
 *   last allowed delivery (MAX_DELIVER) into a permanent one, unless the failure was transient.
 *
 * After a transient outcome (a transient retry, or a hand-back) the slot waits until `ready` says the
 * dependencies answer before it pulls again.
 *
 * While a handler runs, `working()` resets the ack timer, so a long job is not redelivered; a worker that
 * dies stops sending it, and the job goes to another worker after ack_wait. `close()` drains: no new pulls,
 * and it resolves when the jobs in hand have settled.
 */
export class JetStreamWorkQueueServer extends Server implements CustomTransportStrategy {
  private stopping = false;
  private slots: Promise<void>[] = [];
  private consumer?: Consumer;
  private readonly inFlight = new Set<JsMsg>();

  constructor(private readonly options: JetStreamWorkQueueOptions) {
    super();
  }

  async listen(callback: (...optionalParams: unknown[]) => unknown): Promise<void> {
    try {
      const { js, stream, consumer } = this.options;
      this.consumer = await js.consumers.get(stream, consumer);
      this.stopping = false;
      this.slots = Array.from({ length: this.options.concurrency }, (_, i) => this.slot(i));
      callback();
    } catch (err) {
      callback(err);
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.slots);
    await this.options.afterDrain?.();
  }

  /** Jobs being handled right now. */
  get busy(): number {
    return this.inFlight.size;
  }

  on(): void {
    throw new Error('JetStreamWorkQueueServer emits no events');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }

  private async slot(index: number): Promise<void> {
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        msg = await this.consumer!.next({ expires: this.options.pullExpiresMs ?? 2_000 });
      } catch (err) {
        if (this.stopping) return;
        this.logger.warn?.(`slot ${index}: pull failed (${(err as Error).message}); retrying`);
        await sleep(1_000);
        continue;
      }
      if (!msg) continue;
      if (this.stopping) {
        // Pulled while closing: hand it straight back for another worker.
        msg.nak();
        return;
      }
      if (await this.handle(msg)) await this.waitUntilReady(index);
    }
  }

  /** Polls `ready` until the dependencies answer (or the server is closing). */
  private async waitUntilReady(index: number): Promise<void> {
    const ready = this.options.ready;
    if (!ready) return;
    let waited = false;
    while (!this.stopping) {
      if (await ready().catch(() => false)) {
        if (waited) this.logger.log?.(`slot ${index}: dependencies answer again; pulling`);
        return;
      }
      if (!waited) this.logger.warn?.(`slot ${index}: a dependency is down; not pulling until it answers`);
      waited = true;
      await sleep(this.options.readyPollMs ?? 1_000);
    }
  }

  /** Runs and settles one message; true when it ended in a transient outcome (an outage). */
  private async handle(msg: JsMsg): Promise<boolean> {
    this.inFlight.add(msg);
    const heartbeat = setInterval(() => msg.working(), Math.max(250, Math.floor(this.options.ackWaitMs / 3)));
    try {
      let data: unknown;
      try {
        data = msg.json();
      } catch {
        this.logger.error(`job ${msg.seq} is not JSON; terminating it`);
        msg.term();
        return false;
      }
      const handler = this.getHandlerByPattern(this.options.pattern);
      if (!handler) {
        this.logger.error(`no handler for pattern ${this.options.pattern}; job returned to the queue`);
        msg.nak(5_000);
        return false;
      }
      const context = new JetStreamJobContext([msg, this.options.maxDeliver]);
      try {
        const result = await handler(data, context);
        await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
      } catch (err) {
        return await this.settleFailure(msg, err);
      }
      try {
        await msg.ackAck();
      } catch (err) {
        // The results are committed; a redelivery finds the evaluation done and acks it then.
        this.logger.warn?.(`ack of job ${msg.seq} not confirmed (${(err as Error).message})`);
      }
      return false;
    } finally {
      clearInterval(heartbeat);
      this.inFlight.delete(msg);
    }
  }

  /** Settles a message whose handler failed; true when the outcome was transient. */
  private async settleFailure(msg: JsMsg, err: unknown): Promise<boolean> {
    const outcome = outcomeOf(err);
    switch (outcome.kind) {
      case 'permanent':
        // No reason text: NATS before 2.10 does not parse "+TERM <reason>" and leaves the message to be
        // redelivered. The reason is recorded in Postgres by the handler.
        msg.term();
        return false;
      case 'abandon':
        return false;
      case 'handBack':
        // A work-queue stream deletes an acknowledged message, so the sweeper finds no job for the
        // evaluation and publishes a new one. If the ack is lost, the message comes back after ack_wait,
        // beyond MAX_DELIVER; the handler runs it as usual when the evaluation was set back to `queued`.
        try {
          await msg.ackAck();
        } catch (ackErr) {
          this.logger.warn?.(`hand-back of job ${msg.seq} not confirmed (${(ackErr as Error).message})`);
        }
        return true;
      case 'retry': {
        const { baseMs, maxMs } = this.options.backoff ?? { baseMs: 1_000, maxMs: 60_000 };
        const n = msg.info.deliveryCount;
        msg.nak(Math.min(maxMs, baseMs * 2 ** (n - 1)));
        return outcome.transient === true;
      }
    }
  }
}
