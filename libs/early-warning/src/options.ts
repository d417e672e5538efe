/**
 * Settings of alert delivery. They are read from the environment here rather than in the shared
 * SentinelConfig because only early warning uses them; an invalid value throws at module start.
 */
export interface EarlyWarningOptions {
  /** How often each process sweeps the outbox and due webhook deliveries (ms). */
  sweepMs: number;
  /** First retry delay of a failed webhook delivery; each further retry doubles it (ms). */
  webhookRetryBaseMs: number;
  /** Attempts before a delivery is marked failed. */
  webhookMaxAttempts: number;
  /** Timeout of one webhook POST (ms). */
  webhookTimeoutMs: number;
}

export const EARLY_WARNING_OPTIONS = Symbol('EARLY_WARNING_OPTIONS');

export const EARLY_WARNING_VARIABLES = [
  'ALERT_SWEEP_MS',
  'WEBHOOK_RETRY_BASE_MS',
  'WEBHOOK_MAX_ATTEMPTS',
  'WEBHOOK_TIMEOUT_MS',
] as const;

export function earlyWarningOptions(
  env: Record<string, string | undefined> = process.env,
): EarlyWarningOptions {
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
      throw new Error(
        `Invalid configuration: ${name} must be an integer between ${min} and ${max}, got "${raw}"`,
      );
    }
    return value;
  };
  return {
    sweepMs: int('ALERT_SWEEP_MS', 2_000, 10, 3_600_000),
    webhookRetryBaseMs: int('WEBHOOK_RETRY_BASE_MS', 1_000, 1, 3_600_000),
    webhookMaxAttempts: int('WEBHOOK_MAX_ATTEMPTS', 8, 1, 100),
    webhookTimeoutMs: int('WEBHOOK_TIMEOUT_MS', 5_000, 100, 120_000),
  };
}
