/**
 * Sentinel's one typed configuration. Every setting comes from an environment variable with a default
 * that works on a developer machine; an invalid value throws ConfigError naming the variable, and the
 * apps let it stop the process at start.
 */

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const BACKENDS = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface SentinelConfig {
  /** postgres://user[:password]@host:port/database */
  databaseUrl: string;
  natsUrl: string;
  /**
   * NATS login (NATS_USER and NATS_PASSWORD, both or neither); undefined connects without credentials.
   * Each app has its own user with subject permissions (libs/messaging/src/nats-permissions.ts).
   */
  natsUser?: string;
  natsPassword?: string;
  httpPort: number;
  grpcPort: number;
  /** The worker's own HTTP port, for /healthz, /readyz and /metrics. */
  workerHttpPort: number;
  logLevel: LogLevel;
  /** Prefix for every JetStream stream, consumer and object-store bucket, so test runs never collide. */
  natsPrefix: string;
  /** Largest accepted activation upload, in bytes. */
  uploadLimitBytes: number;
  /** Evaluations left `queued` longer than this are re-published by the sweeper. */
  requeueAfterMs: number;
  /** A `running` evaluation whose heartbeat is older than this goes back to the queue. */
  staleRunningMs: number;
  /** Evaluations one worker process runs at once. */
  workerConcurrency: number;
  /** JetStream redeliveries before an evaluation is marked failed. */
  maxDeliver: number;
  /** A delivered job with no ack or heartbeat (`working()`) for this long is redelivered to another worker. */
  ackWaitMs: number;
  /** Bytes of SAE weights a worker keeps loaded (LRU). */
  saeCacheBytes: number;
  engineBackend: BackendChoice;
  /** Use f16 weights on the GPU when the adapter supports shader-f16. */
  engineF16: boolean;
  /** JetStream replicas of the jobs stream and object-store buckets (3 on a 3-node NATS cluster). */
  natsReplicas: number;
  /** Require an API key on every REST and gRPC call but health, metrics and the dashboard's files. */
  authRequired: boolean;
  /** Requests a minute per API key, per API replica (0: no limit). */
  rateLimitPerMinute: number;
  /**
   * Hours an evaluation's uploaded activations stay in the object store after it finished (`done` or
   * `failed`); 0 deletes them at the API's next retention pass; null (`forever`) never deletes them.
   */
  activationsRetentionHours: number | null;
}

function str(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name, fallback);
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const raw = str(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return raw;
}

/** Largest retention in hours (100 years); beyond that, `forever` says what is meant. */
const MAX_RETENTION_HOURS = 876_000;

/** ACTIVATIONS_RETENTION_HOURS: whole hours from 0, or `forever` (null). */
function retentionHours(env: Env, name: string, fallback: number): number | null {
  const raw = str(env, name, String(fallback)).trim();
  if (/^forever$/i.test(raw)) return null;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(
      name,
      `must be a whole number of hours (0: delete once the evaluation is finished) or "forever", got "${raw}"`,
    );
  }
  const value = Number(raw);
  if (value > MAX_RETENTION_HOURS) {
    throw new ConfigError(
      name,
      `must be at most ${MAX_RETENTION_HOURS} hours (100 years; "forever" keeps activations), got ${value}`,
    );
  }
  return value;
}

/** NATS_USER and NATS_PASSWORD: both or neither. The password never appears in an error. */
function natsLogin(env: Env): { natsUser?: string; natsPassword?: string } {
  const user = str(env, 'NATS_USER', '');
  const password = str(env, 'NATS_PASSWORD', '');
  if (user === '' && password === '') return {};
  if (password === '') throw new ConfigError('NATS_PASSWORD', 'must be set when NATS_USER is set');
  if (user === '') throw new ConfigError('NATS_USER', 'must be set when NATS_PASSWORD is set');
  // The user names the app's reply subjects (_INBOX.<user>.>), so it must be one subject token.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(user)) {
    throw new ConfigError('NATS_USER', `must be 1-64 letters, digits, _ or -, got "${user}"`);
  }
  return { natsUser: user, natsPassword: password };
}

export function loadConfig(env: Env = process.env): SentinelConfig {
  const databaseUrl = url(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/sentinel', [
    'postgres:',
    'postgresql:',
  ]);
  if (new URL(databaseUrl).pathname.replace(/^\//, '') === '') {
    throw new ConfigError(
      'DATABASE_URL',
      'must name a database, e.g. postgres://postgres@127.0.0.1:5432/sentinel',
    );
  }
  const natsPrefix = str(env, 'NATS_PREFIX', 'sentinel');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(natsPrefix)) {
    throw new ConfigError('NATS_PREFIX', `must be 1-64 letters, digits, _ or -, got "${natsPrefix}"`);
  }
  const natsUrl = url(env, 'NATS_URL', 'nats://127.0.0.1:4222', ['nats:', 'tls:', 'ws:', 'wss:']);
  if (new URL(natsUrl).username !== '' || new URL(natsUrl).password !== '') {
    // The client would ignore them, and a URL ends up in logs: the login has variables of its own.
    throw new ConfigError('NATS_URL', 'must not contain credentials: set NATS_USER and NATS_PASSWORD');
  }
  return {
    databaseUrl,
    natsUrl,
    ...natsLogin(env),
    httpPort: int(env, 'HTTP_PORT', 3000, 0, 65535),
    grpcPort: int(env, 'GRPC_PORT', 50051, 0, 65535),
    workerHttpPort: int(env, 'WORKER_HTTP_PORT', 3001, 0, 65535),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    natsPrefix,
    uploadLimitBytes: int(env, 'UPLOAD_LIMIT_BYTES', 2 * 1024 ** 3, 1024, Number.MAX_SAFE_INTEGER),
    requeueAfterMs: int(env, 'REQUEUE_AFTER_MS', 30_000, 100, 86_400_000),
    staleRunningMs: int(env, 'STALE_RUNNING_MS', 120_000, 1_000, 86_400_000),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 1, 1, 64),
    maxDeliver: int(env, 'MAX_DELIVER', 5, 1, 100),
    ackWaitMs: int(env, 'ACK_WAIT_MS', 30_000, 1_000, 3_600_000),
    saeCacheBytes: int(env, 'SAE_CACHE_BYTES', 4 * 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
    engineBackend: oneOf(env, 'ENGINE_BACKEND', BACKENDS, 'auto'),
    engineF16: bool(env, 'ENGINE_F16', false),
    natsReplicas: int(env, 'NATS_REPLICAS', 1, 1, 5),
    authRequired: bool(env, 'AUTH_REQUIRED', true),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 1200, 0, 1_000_000),
    activationsRetentionHours: retentionHours(env, 'ACTIVATIONS_RETENTION_HOURS', 168),
  };
}

/** The variables loadConfig reads, for docs and the deployment-manifest consistency test. */
export const CONFIG_VARIABLES = [
  'DATABASE_URL',
  'NATS_URL',
  'NATS_USER',
  'NATS_PASSWORD',
  'HTTP_PORT',
  'GRPC_PORT',
  'WORKER_HTTP_PORT',
  'LOG_LEVEL',
  'NATS_PREFIX',
  'UPLOAD_LIMIT_BYTES',
  'REQUEUE_AFTER_MS',
  'STALE_RUNNING_MS',
  'WORKER_CONCURRENCY',
  'MAX_DELIVER',
  'ACK_WAIT_MS',
  'SAE_CACHE_BYTES',
  'ENGINE_BACKEND',
  'ENGINE_F16',
  'NATS_REPLICAS',
  'AUTH_REQUIRED',
  'RATE_LIMIT_PER_MINUTE',
  'ACTIVATIONS_RETENTION_HOURS',
] as const;
