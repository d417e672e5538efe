import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { type Observable, throwError } from 'rxjs';

/**
 * What a job handler tells the transport besides "done" (which is returning normally → ack). They are
 * RpcExceptions so that Nest's RPC exception filter passes them through to the transport unchanged
 * (it turns any other error into an anonymous "Internal server error").
 */
export type JobOutcome =
  /** The input can never succeed (or retries are spent); the handler has recorded why. → term */
  | { kind: 'permanent'; message: string }
  /**
   * Worth another try later. → nak with exponential backoff. `transient`: an infrastructure outage
   * (Postgres, NATS, GPU) rather than the evaluation, so the slot also waits for readiness before it pulls
   * again.
   */
  | { kind: 'retry'; message: string; transient?: boolean }
  /**
   * An infrastructure outage on the last allowed delivery: the message is acknowledged without a verdict.
   * The evaluation stays `queued` (or `running` until STALE_RUNNING_MS) in Postgres, and the sweeper
   * publishes a fresh job for it (delivery count 1 again). → ack, then wait for readiness
   */
  | { kind: 'handBack'; message: string }
  /** Another delivery of this job owns it now; leave the message alone (no ack, no nak). */
  | { kind: 'abandon'; message: string };

export class JobOutcomeException extends RpcException {
  constructor(readonly outcome: JobOutcome) {
    super(outcome);
  }
}

export class PermanentEvaluationError extends JobOutcomeException {
  constructor(message: string) {
    super({ kind: 'permanent', message });
  }
}

export class RetryEvaluationError extends JobOutcomeException {
  constructor(message: string, transient = false) {
    super(transient ? { kind: 'retry', message, transient } : { kind: 'retry', message });
  }
}

/** See JobOutcome `handBack`. */
export class HandBackEvaluationError extends JobOutcomeException {
  constructor(message: string) {
    super({ kind: 'handBack', message });
  }
}

export class AbandonDeliveryError extends JobOutcomeException {
  constructor(message: string) {
    super({ kind: 'abandon', message });
  }
}

/** The outcome carried by whatever the handler's stream errored with. */
export function outcomeOf(err: unknown): JobOutcome {
  if (err instanceof JobOutcomeException) return err.outcome;
  const kind = (err as { kind?: unknown })?.kind;
  const message = (err as { message?: unknown })?.message;
  if ((kind === 'permanent' || kind === 'handBack' || kind === 'abandon') && typeof message === 'string') {
    return { kind, message };
  }
  if (kind === 'retry' && typeof message === 'string') {
    return (err as { transient?: unknown }).transient === true
      ? { kind, message, transient: true }
      : { kind, message };
  }
  return { kind: 'retry', message: typeof message === 'string' ? message : String(err) };
}

/**
 * Hands a JobOutcomeException to the transport as it is. Without it Nest logs every one of them as an
 * unhandled error (an event handler has no reply stream), although each is an expected outcome that the
 * handler has already logged at the right level.
 */
@Catch(JobOutcomeException)
export class JobOutcomeFilter implements RpcExceptionFilter<JobOutcomeException> {
  catch(exception: JobOutcomeException): Observable<never> {
    return throwError(() => exception);
  }
}
