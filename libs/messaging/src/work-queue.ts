import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/nats-core';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { type NatsNames } from './names.js';

/** The body of one work-queue message: which evaluation to run. Everything else is in Postgres. */
export interface EvaluationJob {
  evaluationId: string;
}

/**
 * Each evaluation has a subject of its own under the jobs subject. That lets the sweeper ask the stream
 * whether a job for an evaluation is still there (a work-queue stream deletes a message once it is
 * acknowledged) instead of guessing from timestamps.
 */
export function jobSubject(names: NatsNames, evaluationId: string): string {
  return `${names.jobsSubject}.${evaluationId}`;
}

/** How long the stream remembers a Nats-Msg-Id; a publish with the same id inside it is dropped. */
export const DUPLICATE_WINDOW_MS = 120_000;

export interface WorkQueueOptions {
  /** Redeliver a job whose worker neither acknowledged it nor said `working()` for this long. */
  ackWaitMs: number;
  /** Copies JetStream keeps of the jobs stream and the buckets (1 on a single server; 3 on a cluster). */
  replicas: number;
}

/**
 * Creates (or reconciles) the jobs stream and the one durable pull consumer all workers share. Safe to
 * call from every process at start: JetStream treats an `add` with the same configuration as a no-op.
 *
 * `max_deliver` stays unlimited on the server: the worker counts deliveries itself and marks the
 * evaluation failed (then terminates the message) at MAX_DELIVER, or, when the last delivery failed on an
 * outage, acknowledges it without a verdict for the sweeper to publish afresh. A server-side limit would
 * instead leave the message in the stream, undeliverable, with the evaluation stuck in `running`.
 */
export async function ensureWorkQueue(
  jsm: JetStreamManager,
  names: NatsNames,
  opts: WorkQueueOptions,
): Promise<{ streamUpdateDenied?: string }> {
  let streamUpdateDenied: string | undefined;
  const stream = {
    name: names.jobsStream,
    subjects: [`${names.jobsSubject}.*`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: opts.replicas,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
  try {
    await jsm.streams.add(stream);
  } catch (err) {
    if (!isAlreadyInUse(err)) throw err;
    try {
      await jsm.streams.update(names.jobsStream, stream);
    } catch (updateErr) {
      // A NATS user that may create the stream but not change it (the workers'): the API reconciles it.
      if (!isPermissionViolation(updateErr)) throw updateErr;
      streamUpdateDenied = (updateErr as Error).message;
    }
  }
  const consumer = {
    durable_name: names.workersConsumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: -1,
  };
  try {
    await jsm.consumers.add(names.jobsStream, consumer);
  } catch (err) {
    if (!isAlreadyInUse(err)) throw err;
    await jsm.consumers.update(names.jobsStream, names.workersConsumer, {
      ack_wait: consumer.ack_wait,
      max_deliver: consumer.max_deliver,
      max_ack_pending: consumer.max_ack_pending,
    });
  }
  return streamUpdateDenied === undefined ? {} : { streamUpdateDenied };
}

/** A request the server refused because the user may not publish to its subject. */
export function isPermissionViolation(err: unknown): boolean {
  for (let e = err as Error | undefined, depth = 0; e && depth < 4; e = e.cause as Error, depth++) {
    if (e.name === 'PermissionViolationError' || /permissions violation/i.test(e.message ?? '')) return true;
  }
  return false;
}

function isAlreadyInUse(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 400 || /already in use|exists/i.test(err.message);
  return /already in use|already exists/i.test((err as Error)?.message ?? '');
}

/** The two object-store buckets: uploaded activations and SAE weights. */
export interface Buckets {
  activations: ObjectStore;
  saes: ObjectStore;
}

export async function openBuckets(nc: NatsConnection, names: NatsNames, replicas = 1): Promise<Buckets> {
  const objm = new Objm(nc);
  const [activations, saes] = await Promise.all([
    objm.create(names.activationsBucket, { storage: StorageType.File, replicas }),
    objm.create(names.saesBucket, { storage: StorageType.File, replicas }),
  ]);
  return { activations, saes };
}

/**
 * Publishes the job of one evaluation. `msgId` is the evaluation id for the first publish, so a retried
 * publish within the duplicate window is dropped by the server; the sweeper passes a different id when
 * it has checked that no job for the evaluation is left in the stream.
 */
export async function publishJob(
  js: JetStreamClient,
  names: NatsNames,
  evaluationId: string,
  msgId: string = evaluationId,
): Promise<{ seq: number; duplicate: boolean }> {
  const body: EvaluationJob = { evaluationId };
  const ack = await js.publish(jobSubject(names, evaluationId), JSON.stringify(body), { msgID: msgId });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

/** Whether a job for this evaluation is still in the stream (waiting, or delivered but not acknowledged). */
export async function hasPendingJob(
  jsm: JetStreamManager,
  names: NatsNames,
  evaluationId: string,
): Promise<boolean> {
  // null is "no message found"; the client turns that API error into null.
  const msg = await jsm.streams.getMessage(names.jobsStream, {
    last_by_subj: jobSubject(names, evaluationId),
  });
  return msg !== null;
}
