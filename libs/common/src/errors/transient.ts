/**
 * Which errors are an outage of the infrastructure (Postgres, NATS, the network) rather than a fault of
 * the request or evaluation at hand. The API answers them with 503; the worker retries them
 * without counting them against MAX_DELIVER, and never records an evaluation `failed` for one.
 *
 * Errors are recognised by their shape (SQLSTATE, errno code, class name, message), not by `instanceof`,
 * so the checks hold across library versions and across the wrappers (TypeORM's QueryFailedError keeps
 * pg's error as `driverError`; NATS and Node put the underlying error in `cause` or `errors`).
 */

/**
 * SQLSTATEs of a Postgres that is unreachable or restarting: class 08 (connection exception), 57P01 admin
 * shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, shutting down, in recovery).
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith('08') || /^57P0[123]$/.test(code);
}

/**
 * SQLSTATEs that say "try again" about the server's state, not the statement: 53300 too many
 * connections, 40001 serialization failure, 40P01 deadlock detected.
 */
const RETRY_SQL_STATES = new Set(['53300', '40001', '40P01']);

function sqlState(e: ErrorLike): string | undefined {
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

/** Socket errors of a connection that was refused, dropped or timed out. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Names of the NATS client's errors for a server that is gone, restarting or not answering in time. */
const NATS_UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'NoResponders',
  'NoRespondersError',
]);

/** Messages of the pg client and pool, and of NATS, that carry no code. */
const UNAVAILABLE_MESSAGE =
  /^(connect (ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|the database system is (starting up|shutting down|in recovery|not yet accepting connections)|terminating connection due to administrator command|no responders|idle heartbeats? missed)/i;

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  driverError?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** The error and the errors it wraps (driverError, cause, AggregateError's errors), a few levels deep. */
function* chain(err: unknown, depth = 0): Generator<ErrorLike> {
  if (depth > 5 || err === null || typeof err !== 'object') return;
  const e = err as ErrorLike;
  yield e;
  yield* chain(e.driverError, depth + 1);
  yield* chain(e.cause, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors.slice(0, 8)) yield* chain(inner, depth + 1);
}

function unavailableAlone(e: ErrorLike): boolean {
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  const code = sqlState(e);
  if (code !== undefined && isUnavailableSqlState(code)) return true;
  if (typeof e.name === 'string' && NATS_UNAVAILABLE_NAMES.has(e.name)) return true;
  return typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message);
}

/**
 * Postgres or NATS is unreachable, restarting or not answering: connection refused, reset or terminated,
 * a server shutting down or starting up, a NATS request that timed out or found no responders.
 */
export function isInfrastructureUnavailable(err: unknown): boolean {
  for (const e of chain(err)) if (unavailableAlone(e)) return true;
  return false;
}

/**
 * An error worth retrying later that says nothing about the evaluation itself: an infrastructure outage
 * (isInfrastructureUnavailable), or a transaction Postgres asks to retry (too many connections,
 * serialization failure, deadlock). The SAE engine's GPU errors (`retryable = true`: device lost, out of
 * memory) are not among them: the same one on every delivery does say something about the evaluation
 * (an SAE too large for the device), so they are retried like any other error, up to MAX_DELIVER.
 */
export function isTransientError(err: unknown): boolean {
  for (const e of chain(err)) {
    if (unavailableAlone(e)) return true;
    const code = sqlState(e);
    if (code !== undefined && RETRY_SQL_STATES.has(code)) return true;
  }
  return false;
}
