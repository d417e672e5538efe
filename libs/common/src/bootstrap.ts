import { type INestApplication } from '@nestjs/common';
import { type Logger } from 'pino';
import { ConfigError, loadConfig, type SentinelConfig } from './config/config.js';
import { createLogger, PinoNestLogger } from './logging/logger.js';

/**
 * Validates the configuration before anything starts: a bad variable ends the process with one line
 * naming it, instead of a stack trace from deep inside a connection attempt.
 */
export function loadConfigOrExit(service: string): {
  config: SentinelConfig;
  logger: Logger;
  nestLogger: PinoNestLogger;
} {
  let config: SentinelConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${service}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, service);
  return { config, logger, nestLogger: new PinoNestLogger(logger) };
}

/**
 * SIGTERM/SIGINT: run the app's shutdown hooks (drain, close connections) and exit, with a deadline so
 * a stuck dependency cannot hold the pod past its grace period.
 */
export function exitOnSignals(app: INestApplication, logger: Logger, deadlineMs = 9_000): void {
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error({ deadlineMs }, 'shutdown deadline passed, exiting');
        process.exit(1);
      }, deadlineMs);
      timer.unref();
      app
        .close()
        .then(() => {
          logger.info('stopped');
          process.exit(0);
        })
        .catch((err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          process.exit(1);
        });
    });
  }
}
