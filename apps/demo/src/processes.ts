/**
 * The demo runs the real API and workers as separate processes, started from the same build exactly as
 * `npm run start:api` / `start:worker` would, each logging JSON lines to its own file (so the logs do not
 * tear the progress bars).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SentinelClient } from './client.js';
import { freePort, stopChild } from './infra.js';

export interface AppsOptions {
  databaseUrl: string;
  natsUrl: string;
  natsPrefix: string;
  workers: number;
  /** API port; 0 picks a free one. */
  httpPort: number;
  logDir: string;
}

export interface AppProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
}

export interface Apps {
  apiUrl: string;
  processes: AppProcess[];
  stop(): Promise<void>;
}

const entry = (app: 'api' | 'worker') => fileURLToPath(new URL(`../../${app}/src/main.js`, import.meta.url));

export async function startApps(options: AppsOptions): Promise<Apps> {
  mkdirSync(options.logDir, { recursive: true });
  const httpPort = options.httpPort || (await freePort());
  const baseEnv = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    NATS_URL: options.natsUrl,
    NATS_PREFIX: options.natsPrefix,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  const processes: AppProcess[] = [];
  const launch = (name: string, app: 'api' | 'worker', env: Record<string, string>) => {
    const logFile = join(options.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, ['--enable-source-maps', entry(app)], {
      env: { ...baseEnv, ...env },
      stdio: ['ignore', fd, fd],
    });
    processes.push({ name, child, logFile });
  };
  const stop = async () => {
    // Workers first, so none is mid-evaluation when the API goes.
    for (const group of [
      processes.filter((p) => p.name !== 'api'),
      processes.filter((p) => p.name === 'api'),
    ]) {
      await Promise.all(group.map((p) => stopChild(p.child, 'SIGTERM', 12_000)));
    }
  };

  try {
    launch('api', 'api', { HTTP_PORT: String(httpPort), GRPC_PORT: String(await freePort()) });
    const workerPorts: number[] = [];
    for (let w = 1; w <= options.workers; w++) {
      const port = await freePort();
      workerPorts.push(port);
      launch(`worker-${w}`, 'worker', { WORKER_HTTP_PORT: String(port) });
    }
    const apiUrl = `http://127.0.0.1:${httpPort}`;
    await Promise.all([
      waitReady(new SentinelClient(apiUrl), processes[0]),
      ...workerPorts.map((port, w) =>
        waitReady(new SentinelClient(`http://127.0.0.1:${port}`), processes[w + 1]),
      ),
    ]);
    return { apiUrl, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Polls /readyz until it answers 200; fails with the log tail when the process dies or 3 minutes pass
 * (a quiet machine needs seconds; a loaded 2-core one, where many Nest apps boot at once, far longer). */
async function waitReady(client: SentinelClient, proc: AppProcess, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(
        `${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${logTail(proc.logFile)}`,
      );
    }
    if (await client.ready()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${proc.name} not ready after ${timeoutMs / 1000} s:\n${logTail(proc.logFile)}`);
}

export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
