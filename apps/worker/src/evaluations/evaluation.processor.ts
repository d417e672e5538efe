import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Controller, Inject, Logger, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  isTransientError,
  MetricsService,
  SENTINEL_CONFIG,
  type SentinelConfig,
  withRequestId,
} from '../../../../libs/common/src/index.js';
import { type EvaluationJob, readObject, WorkQueueService } from '../../../../libs/messaging/src/index.js';
import {
  EncodeInputError,
  parseActivations,
  SaeFormatError,
  type Direction,
} from '../../../../libs/sae/src/index.js';
import { type JetStreamJobContext } from '../transport/jetstream-job.context.js';
import {
  AbandonDeliveryError,
  HandBackEvaluationError,
  JobOutcomeException,
  JobOutcomeFilter,
  PermanentEvaluationError,
  RetryEvaluationError,
} from '../transport/job-outcome.js';
import { EngineService } from './engine.service.js';
import {
  type ClaimedEvaluation,
  type ClaimResult,
  EvaluationResultsRepository,
} from './evaluation-results.repository.js';
import { EvaluationDoneDispatcher } from './evaluation-done.dispatcher.js';
import { MAX_INLINE_VECTOR_LATENTS, toResults, vectorsObject } from './results.js';
import { SaeCacheService } from './sae-cache.service.js';

/** The pattern the JetStream transport dispatches every job to. */
export const EVALUATE = 'evaluation.run';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs one evaluation: claims it in Postgres, loads the SAE (cached) and the activations (object store),
 * encodes, writes every result in one transaction, and returns, after which the transport acknowledges.
 * Failures become outcomes for the transport:
 *
 * - input that can never succeed is recorded as `failed` and terminated;
 * - a transient error (isTransientError: Postgres or NATS unreachable or restarting) is never recorded
 *   as `failed`, whatever the delivery count: the evaluation goes back to
 *   `queued` and the job is nak'd with backoff, or, on the last allowed delivery, handed back (acked
 *   without a verdict) for the sweeper to publish afresh;
 * - any other error (a GPU device lost or out of memory among them) is retried with backoff until
 *   MAX_DELIVER, then recorded as `failed`.
 */
@Controller()
@UseFilters(new JobOutcomeFilter())
export class EvaluationProcessor {
  private readonly logger = new Logger(EvaluationProcessor.name);
  readonly workerId = `${hostname()}:${process.pid}`;
  private readonly latency;
  private readonly gflops;
  private readonly outcomes;
  private readonly kernelShare;

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly repo: EvaluationResultsRepository,
    private readonly queue: WorkQueueService,
    private readonly saes: SaeCacheService,
    private readonly engine: EngineService,
    private readonly done: EvaluationDoneDispatcher,
    metrics: MetricsService,
  ) {
    this.latency = metrics.histogram(
      'sentinel_submit_to_done_seconds',
      'From upload accepted to results committed',
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    );
    this.gflops = metrics.gauge(
      'sentinel_encode_gflops',
      'Encoder GFLOP/s of the last evaluation (2·n_tokens·d_in·d_sae over the engine time)',
      ['backend'],
    );
    this.kernelShare = metrics.gauge(
      'sentinel_encode_time_share',
      'Share of the last evaluation worker time spent in the engine',
    );
    this.outcomes = metrics.counter('sentinel_worker_jobs_total', 'Jobs settled by this worker', ['outcome']);
  }

  @EventPattern(EVALUATE)
  // Nest types the context parameter as unknown; the JetStream transport always passes a JetStreamJobContext.
  async evaluate(@Payload() job: EvaluationJob, @Ctx() context: unknown): Promise<void> {
    const ctx = context as JetStreamJobContext;
    const id = job?.evaluationId;
    if (typeof id !== 'string' || !UUID.test(id)) {
      this.outcomes.inc({ outcome: 'malformed' });
      throw new PermanentEvaluationError(`job without a valid evaluationId: ${JSON.stringify(job)}`);
    }
    await withRequestId(`evaluation:${id}`, () => this.run(id, ctx));
  }

  private async run(id: string, ctx: JetStreamJobContext): Promise<void> {
    const delivery = ctx.getDeliveryCount();
    const maxDeliver = ctx.getMaxDeliver();
    let claim: ClaimResult;
    try {
      claim = await this.repo.claim(id, this.workerId);
    } catch (err) {
      const message = `claim failed: ${errorMessage(err)}`;
      if (isTransientError(err)) throw this.transient(id, message, delivery, maxDeliver);
      if (delivery >= maxDeliver) {
        await this.giveUp(id, `failed ${delivery} times (MAX_DELIVER ${maxDeliver}); last error: ${message}`);
      }
      this.outcomes.inc({ outcome: 'retry' });
      throw new RetryEvaluationError(message);
    }
    if (claim.kind === 'finished') {
      // A duplicate job (a re-publish, or a redelivery after the results committed): nothing to do.
      this.outcomes.inc({ outcome: 'duplicate' });
      return;
    }
    if (claim.kind === 'missing') {
      this.outcomes.inc({ outcome: 'missing' });
      throw new PermanentEvaluationError(`evaluation ${id} does not exist (run deleted?)`);
    }
    if (delivery > maxDeliver && claim.evaluation.previousStatus === 'running') {
      // Every delivery up to MAX_DELIVER ended without a verdict, the last one leaving the evaluation
      // `running`: the worker died or stalled each time. (A delivery that failed on an outage sets it
      // back to `queued` and hands the job back on the last delivery, so an outage does not lead here.)
      this.outcomes.inc({ outcome: 'failed' });
      const reason = `gave up after ${maxDeliver} deliveries without a result (workers crashed or timed out)`;
      this.logger.error({ evaluationId: id, delivery }, reason);
      await this.recordFailure(claim.evaluation, reason, delivery, maxDeliver);
      throw new PermanentEvaluationError(reason);
    }
    const evaluation = claim.evaluation;
    const heartbeat = setInterval(
      () => void this.repo.heartbeat(id, evaluation.token).catch(() => undefined),
      Math.max(250, Math.floor(Math.min(this.config.ackWaitMs, this.config.staleRunningMs) / 3)),
    );
    try {
      await this.encodeAndStore(evaluation);
      this.outcomes.inc({ outcome: 'done' });
    } catch (err) {
      await this.settleError(evaluation, err, delivery, maxDeliver);
    } finally {
      clearInterval(heartbeat);
    }
    // After the commit, off this job's path (see EvaluationDoneDispatcher).
    this.done.notify(evaluation.runId, id);
  }

  private async encodeAndStore(e: ClaimedEvaluation): Promise<void> {
    const t0 = performance.now();
    const bytes = await readObject(this.queue.activations, e.objectKey);
    if (!bytes) {
      throw new PermanentEvaluationError(
        `activations object ${e.objectKey} is missing from the object store`,
      );
    }
    const t1 = performance.now();
    const activations = parseActivations(bytes, `evaluation ${e.id} activations`);
    const t2 = performance.now();
    const { sae, release } = await this.saes.acquire({
      id: e.sae.id,
      format: e.sae.format,
      objectKey: e.sae.objectKey,
    });
    try {
      const t3 = performance.now();
      const backend = await this.engine.get();
      const directions: Direction[] = e.directions.map((d) => ({
        name: d.name,
        vector: Float32Array.from(d.vector),
      }));
      const stats = await backend.encode(sae, activations, { directions });
      const t4 = performance.now();
      let vectorsKey: string | null = null;
      if (stats.dSae > MAX_INLINE_VECTOR_LATENTS) {
        vectorsKey = `evaluations/${e.id}/vectors.f32le`;
        await this.queue.activations.putBlob({ name: vectorsKey }, vectorsObject(stats));
      }
      const engineMs = t4 - t3;
      const timings: Record<string, number> = {
        download: t1 - t0,
        parse: t2 - t1,
        saeLoad: t3 - t2,
        encode: engineMs,
        ...Object.fromEntries(Object.entries(stats.timings).map(([k, v]) => [`engine.${k}`, v])),
      };
      const results = toResults(stats, e.watchLatents, timings, vectorsKey);
      const t5 = performance.now();
      timings.total = t5 - t0;
      const latency = await this.repo.complete(e.id, e.token, results);
      const t6 = performance.now();
      // The write is known only after it ran; it is recorded in the log and metrics, not in its own row.
      if (latency === null) {
        this.outcomes.inc({ outcome: 'lost_claim' });
        throw new AbandonDeliveryError(`evaluation ${e.id}: another delivery took it over; results dropped`);
      }
      this.latency.observe(latency);
      const flops = 2 * activations.nTokens * sae.dIn * sae.dSae;
      this.gflops.set({ backend: stats.backend }, flops / (engineMs / 1000) / 1e9);
      this.kernelShare.set(engineMs / (t6 - t0));
      this.logger.log(
        {
          evaluationId: e.id,
          backend: stats.backend,
          nTokens: activations.nTokens,
          dSae: sae.dSae,
          ms: { ...timings, write: t6 - t5, total: t6 - t0 },
          latencyS: latency,
        },
        'evaluation done',
      );
    } finally {
      release();
    }
  }

  private async settleError(e: ClaimedEvaluation, err: unknown, delivery: number, maxDeliver: number) {
    if (err instanceof AbandonDeliveryError) throw err;
    const permanent =
      err instanceof PermanentEvaluationError ||
      err instanceof SaeFormatError ||
      err instanceof EncodeInputError;
    const message = err instanceof JobOutcomeException ? err.outcome.message : errorMessage(err);
    if (permanent) {
      this.outcomes.inc({ outcome: 'failed' });
      this.logger.warn({ evaluationId: e.id, error: message }, 'evaluation failed: input cannot succeed');
      await this.recordFailure(e, message, delivery, maxDeliver);
      throw new PermanentEvaluationError(message);
    }
    if (isTransientError(err)) {
      // Not the evaluation's fault, and not counted: back to `queued` (when Postgres answers; otherwise
      // it stays `running` and the sweeper requeues it after STALE_RUNNING_MS), then nak or hand back.
      await this.repo.release(e.id, e.token).catch(() => undefined);
      throw this.transient(e.id, message, delivery, maxDeliver);
    }
    if (delivery >= maxDeliver) {
      this.outcomes.inc({ outcome: 'failed' });
      const reason = `failed ${delivery} times (MAX_DELIVER ${maxDeliver}); last error: ${message}`;
      this.logger.error({ evaluationId: e.id, err }, reason);
      await this.recordFailure(e, reason, delivery, maxDeliver);
      throw new PermanentEvaluationError(reason);
    }
    this.outcomes.inc({ outcome: 'retry' });
    this.logger.warn({ evaluationId: e.id, delivery, err }, 'evaluation attempt failed; will retry');
    await this.repo.release(e.id, e.token).catch(() => undefined);
    throw new RetryEvaluationError(message);
  }

  /**
   * The outcome of a transient failure: nak with backoff (uncounted: a later delivery that fails on the
   * evaluation itself is judged by the delivery count, but a transient one never fails it), or on the
   * last allowed delivery, hand the job back: acknowledge it without a verdict, so that it does not go
   * beyond MAX_DELIVER; the evaluation stays `queued` (or `running`, until STALE_RUNNING_MS) in Postgres
   * and the sweeper publishes a fresh job once Postgres answers.
   */
  private transient(
    id: string,
    message: string,
    delivery: number,
    maxDeliver: number,
  ): RetryEvaluationError | HandBackEvaluationError {
    if (delivery >= maxDeliver) {
      this.outcomes.inc({ outcome: 'handed_back' });
      this.logger.warn(
        { evaluationId: id, delivery, error: message },
        'infrastructure error on the last delivery; job handed back to the sweeper',
      );
      return new HandBackEvaluationError(message);
    }
    this.outcomes.inc({ outcome: 'retry_transient' });
    this.logger.warn({ evaluationId: id, delivery, error: message }, 'infrastructure error; will retry');
    return new RetryEvaluationError(message, true);
  }

  private async recordFailure(
    e: ClaimedEvaluation,
    message: string,
    delivery: number,
    maxDeliver: number,
  ): Promise<void> {
    let owned: boolean;
    try {
      owned = await this.repo.fail(e.id, message, e.token);
    } catch (err) {
      // Postgres is unreachable: retry later rather than drop the job with its failure unrecorded.
      const why = `could not record failure: ${errorMessage(err)}`;
      throw isTransientError(err)
        ? this.transient(e.id, why, delivery, maxDeliver)
        : new RetryEvaluationError(why);
    }
    if (!owned) throw new AbandonDeliveryError(`evaluation ${e.id}: another delivery took it over`);
  }

  /** Records a failure without a claim (the claim itself failed, on the evaluation rather than an outage). */
  private async giveUp(id: string, reason: string): Promise<never> {
    try {
      await this.repo.fail(id, reason);
    } catch (err) {
      throw new RetryEvaluationError(`could not record failure: ${errorMessage(err)}`, isTransientError(err));
    }
    this.outcomes.inc({ outcome: 'failed' });
    this.logger.error({ evaluationId: id }, reason);
    throw new PermanentEvaluationError(reason);
  }
}

function errorMessage(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
