// /readyz follows its dependencies live: with NATS stopped it answers 503 naming NATS, and once NATS is
// back it answers 200 again — same process, no restart. NATS here is a server of this test's own (the
// shared one stays up for the other tests).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type INestApplication } from '@nestjs/common';
import { createApiApp } from '../../apps/api/src/app.js';
import { testConfig } from '../support/config.js';
import { freePort } from '../support/processes.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
let storeDir: string;
let natsPort: number;
let nats: ChildProcess | undefined;
let app: INestApplication;
let base: string;

async function startNats(): Promise<void> {
  nats = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', storeDir], {
    stdio: 'ignore',
  });
  await until(
    'nats-server to listen',
    () =>
      new Promise<true | undefined>((resolve) => {
        const socket = connect(natsPort, '127.0.0.1', () => (socket.destroy(), resolve(true)));
        socket.on('error', () => resolve(undefined));
      }),
  );
}

async function stopNats(): Promise<void> {
  if (!nats || nats.exitCode !== null) return;
  const exited = new Promise((resolve) => nats!.once('exit', resolve));
  nats.kill('SIGKILL');
  await exited;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function readiness(): Promise<{
  status: number;
  body: { ready: boolean; checks: Record<string, { ok: boolean; error?: string }> };
}> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

before(async () => {
  storeDir = await mkdtemp(join(tmpdir(), 'sentinel-readyz-nats-'));
  natsPort = await freePort();
  await startNats();
  app = await createApiApp(testConfig({ NATS_URL: `nats://127.0.0.1:${natsPort}` }), false);
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
});

after(async () => {
  await stopNats();
  await app?.close().catch(() => undefined);
  await rm(storeDir, { recursive: true, force: true });
});

test('/readyz is false with a reason while NATS is down and true again when it returns, without a restart', async () => {
  const up = await readiness();
  assert.equal(up.status, 200);
  assert.deepEqual(up.body.checks, { nats: { ok: true }, postgres: { ok: true } });

  await stopNats();
  const down = await until('readyz to report NATS down', async () => {
    const r = await readiness();
    return r.status === 503 ? r : undefined;
  });
  assert.equal(down.body.ready, false);
  assert.equal(down.body.checks.nats.ok, false);
  assert.ok(down.body.checks.nats.error, 'the reason is given');
  assert.equal(down.body.checks.postgres.ok, true, 'Postgres is not blamed');
  assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process itself stays alive');

  await startNats();
  const back = await until('readyz to recover', async () => {
    const r = await readiness();
    return r.status === 200 ? r : undefined;
  });
  assert.equal(back.body.ready, true);
});
