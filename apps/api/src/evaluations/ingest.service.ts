import { randomUUID } from 'node:crypto';
import { type IncomingMessage } from 'node:http';
import {
  ConflictException,
  HttpException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { MetricsService, SENTINEL_CONFIG, type SentinelConfig } from '../../../../libs/common/src/index.js';
import { WorkQueueService } from '../../../../libs/messaging/src/index.js';
import { RunsRepository } from '../runs/runs.repository.js';
import { ActivationsUploadCheck, UploadRejectedError } from './activations-upload.js';
import { type SubmittedEvaluationDto } from './evaluations.dto.js';
import { EvaluationsRepository } from './evaluations.repository.js';

/** Object-store chunks of 1 MiB (NATS clamps this to the server's max_payload). */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Accepts the activations of one checkpoint: validates them while they stream into the object store,
 * records the evaluation in Postgres (the record of truth) and only then publishes its job. Nothing of a
 * refused upload remains: the object store purges the chunks of a put whose stream fails, and an upload
 * that turns out to repeat an existing checkpoint has its object deleted.
 */
@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);
  private readonly uploads;

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly runs: RunsRepository,
    private readonly evaluations: EvaluationsRepository,
    private readonly queue: WorkQueueService,
    metrics: MetricsService,
  ) {
    this.uploads = metrics.counter('sentinel_uploads_total', 'Activation uploads by outcome', ['outcome']);
  }

  async submit(
    runId: string,
    step: number,
    req: IncomingMessage,
  ): Promise<SubmittedEvaluationDto & { created: boolean }> {
    const run = await this.runs.findForUpload(runId);
    if (!run) {
      this.uploads.inc({ outcome: 'unknown_run' });
      throw new NotFoundException(`run ${runId} not found: register it with POST /v1/runs first`);
    }
    const lengthHeader = req.headers['content-length'];
    const check = new ActivationsUploadCheck({
      expectedDIn: run.dIn,
      limitBytes: this.config.uploadLimitBytes,
      declaredLength: lengthHeader === undefined ? undefined : Number(lengthHeader),
      source: `activations for run ${runId} step ${step}`,
    });
    // A name of its own per upload: two uploads of one checkpoint never write the same object, and the
    // loser of the race below deletes only its own copy.
    const objectKey = `runs/${runId}/steps/${step}/${randomUUID()}`;
    let info: ReturnType<ActivationsUploadCheck['finish']> | undefined;
    try {
      await this.queue.activations.put(
        { name: objectKey, options: { max_chunk_size: CHUNK_BYTES } },
        checkedStream(req, check, (done) => (info = done)),
      );
    } catch (err) {
      this.uploads.inc({ outcome: err instanceof UploadRejectedError ? `rejected_${err.status}` : 'error' });
      if (err instanceof UploadRejectedError) throw new HttpException(err.message, err.status);
      if (err instanceof ClientAbortedError) throw new HttpException(err.message, 400);
      throw err;
    }
    const done = info!;
    const evaluation = await this.evaluations
      .insertOrGet({
        runId,
        step,
        contentSha256: done.sha256,
        objectKey,
        sizeBytes: done.sizeBytes,
        nTokens: done.nTokens,
        nPrompts: done.nPrompts ?? 0,
        natsPrefix: this.config.natsPrefix,
      })
      .catch(async (err) => {
        await this.deleteObject(objectKey);
        throw err;
      });
    if (!evaluation.created) {
      if (evaluation.contentSha256 === done.sha256 && evaluation.status === 'failed') {
        // The same checkpoint again after it failed: try once more, from the bytes just received.
        const oldKey = await this.evaluations.requeueFailed(evaluation.id, objectKey, this.config.natsPrefix);
        if (oldKey !== null) {
          if (oldKey !== objectKey) await this.deleteObject(oldKey);
          this.uploads.inc({ outcome: 'retry_failed' });
          await this.publish(evaluation.id, `${evaluation.id}:retry:${Date.now()}`);
          return { evaluationId: evaluation.id, status: 'queued', created: false };
        }
      }
      await this.deleteObject(objectKey);
      if (evaluation.contentSha256 !== done.sha256) {
        this.uploads.inc({ outcome: 'conflict' });
        throw new ConflictException(
          `run ${runId} step ${step} already has evaluation ${evaluation.id} with different activations ` +
            `(sha256 ${evaluation.contentSha256}, this upload ${done.sha256}); a checkpoint is evaluated once`,
        );
      }
      this.uploads.inc({ outcome: 'repeat' });
      return { evaluationId: evaluation.id, status: evaluation.status, created: false };
    }
    this.uploads.inc({ outcome: 'accepted' });
    await this.publish(evaluation.id);
    return { evaluationId: evaluation.id, status: 'queued', created: true };
  }

  /**
   * After the commit: the row exists before any worker can see the job. A failed publish is not an error
   * for the client; the sweeper publishes evaluations left queued.
   */
  private async publish(evaluationId: string, msgId?: string): Promise<void> {
    try {
      await this.queue.publish(evaluationId, msgId);
      await this.evaluations.markPublished(evaluationId);
    } catch (err) {
      this.logger.warn({ err, evaluationId }, 'publish failed; the sweeper will retry');
    }
  }

  private async deleteObject(name: string): Promise<void> {
    await this.queue.activations.delete(name).catch((err: unknown) => {
      this.logger.error({ err, object: name }, 'could not delete an unused activations object');
    });
  }
}

class ClientAbortedError extends Error {}

/**
 * The request body as a web ReadableStream for the object store, every chunk passing through the check
 * first. A failing check errors the stream, which makes the object store purge what it stored.
 */
function checkedStream(
  req: IncomingMessage,
  check: ActivationsUploadCheck,
  onDone: (info: ReturnType<ActivationsUploadCheck['finish']>) => void,
): ReadableStream<Uint8Array> {
  const chunks = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await chunks.next();
        if (done) {
          if (!req.complete) throw new ClientAbortedError('the client closed the upload before its end');
          onDone(check.finish());
          controller.close();
          return;
        }
        check.push(value);
        controller.enqueue(value);
      } catch (err) {
        const cause =
          (err as NodeJS.ErrnoException)?.code === 'ECONNRESET' || (err as Error)?.message === 'aborted'
            ? new ClientAbortedError('the client closed the upload before its end')
            : err;
        controller.error(cause);
      }
    },
    cancel() {
      req.destroy();
    },
  });
}
