import { randomBytes } from 'node:crypto';
import { loadConfig, type SentinelConfig } from '../../libs/common/src/index.js';

/**
 * The configuration of this test run (its own database and NATS prefix, set by scripts/run-tests.mjs),
 * optionally with a fresh sub-prefix so one test file's streams never meet another's.
 */
export function testConfig(overrides: Record<string, string> = {}, isolateNats = true): SentinelConfig {
  // Feature tests run without API keys; test/auth turns AUTH_REQUIRED on and checks every route.
  const env: Record<string, string | undefined> = {
    AUTH_REQUIRED: 'false',
    ...process.env,
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    WORKER_HTTP_PORT: '0',
  };
  if (isolateNats) env.NATS_PREFIX = `${process.env.NATS_PREFIX ?? 't'}_${randomBytes(3).toString('hex')}`;
  return loadConfig({ ...env, ...overrides });
}
