/**
 * The few REST calls the demo makes, exactly as a training job or a person would: no shortcut into the
 * database, so the demo exercises the real API, queue, workers and detectors.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    body: string,
  ) {
    super(`${method} ${path} answered ${status}: ${body.slice(0, 500)}`);
    this.name = 'ApiError';
  }
}

export interface Evaluation {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  error?: string | null;
}

export interface Alert {
  id?: string;
  runId?: string;
  rule: string;
  severity: string;
  status: string;
  openedAtStep: number;
  resolvedAtStep?: number | null;
  [key: string]: unknown;
}

export interface RunTrend {
  runId: string;
  baseline: { runId: string; step: number } | null;
  series: {
    kind: string;
    index?: number;
    name?: string;
    label: string;
    points: { step: number; mean: number; delta: number; p: number | null; z: number | null }[];
    alerts: Alert[];
  }[];
}

export class SentinelClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey?: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let payload: string | Uint8Array | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = contentType ?? 'application/octet-stream';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, body: payload });
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, method, path, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(new URL('/readyz', this.baseUrl));
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  registerSae(name: string, path: string): Promise<{ id: string; dIn: number; dSae: number }> {
    return this.call('POST', '/v1/saes', { name, format: 'saelens', path });
  }

  putWatchlist(
    saeId: string,
    watchlist: {
      latents: { index: number; label: string }[];
      directions: { name: string; vector: number[] }[];
    },
  ): Promise<unknown> {
    return this.call('PUT', `/v1/saes/${saeId}/watchlist`, watchlist);
  }

  createRun(run: {
    name: string;
    project: string;
    model: string;
    saeId: string;
    baselineStep?: number;
    metadata?: Record<string, unknown>;
  }): Promise<{ id: string }> {
    return this.call('POST', '/v1/runs', run);
  }

  submitActivations(
    runId: string,
    step: number,
    bytes: Uint8Array,
  ): Promise<{ evaluationId: string; status: string }> {
    return this.call('PUT', `/v1/runs/${runId}/checkpoints/${step}/activations`, bytes);
  }

  evaluation(id: string): Promise<Evaluation> {
    return this.call('GET', `/v1/evaluations/${id}`);
  }

  trend(runId: string): Promise<RunTrend> {
    return this.call('GET', `/v1/runs/${runId}/trend`);
  }

  async alerts(runId: string): Promise<Alert[]> {
    const body = await this.call<{ alerts: Alert[] } | Alert[]>(
      'GET',
      `/v1/alerts?runId=${encodeURIComponent(runId)}&limit=1000`,
    );
    return Array.isArray(body) ? body : body.alerts;
  }
}
