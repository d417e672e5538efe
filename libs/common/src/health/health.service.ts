import { Inject, Injectable } from '@nestjs/common';

/** One dependency whose failure makes the process not ready (Postgres, NATS, …). */
export interface HealthProbe {
  readonly name: string;
  /** Resolves when the dependency answers; rejects (or exceeds the timeout) when it does not. */
  check(): Promise<void>;
}

export const HEALTH_PROBES = Symbol('HEALTH_PROBES');

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; error?: string }>;
}

const PROBE_TIMEOUT_MS = 2_000;

@Injectable()
export class HealthService {
  private draining = false;

  constructor(@Inject(HEALTH_PROBES) private readonly probes: HealthProbe[]) {}

  /** Called on SIGTERM: the process stays alive to finish work but tells the load balancer to stop. */
  markDraining(): void {
    this.draining = true;
  }

  async readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    await Promise.all(
      this.probes.map(async (probe) => {
        try {
          await withTimeout(
            probe.check(),
            PROBE_TIMEOUT_MS,
            `${probe.name} did not answer in ${PROBE_TIMEOUT_MS} ms`,
          );
          checks[probe.name] = { ok: true };
        } catch (err) {
          checks[probe.name] = { ok: false, error: (err as Error).message || String(err) };
        }
      }),
    );
    if (this.draining) checks.shutdown = { ok: false, error: 'draining after SIGTERM' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
