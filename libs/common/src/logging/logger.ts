import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { type LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import { type LogLevel } from '../config/config.js';

/** Carries the id of the request (or job) being served through async calls, so every log line has it. */
const context = new AsyncLocalStorage<{ requestId: string }>();

export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return context.run({ requestId: requestId ?? randomUUID() }, fn);
}

export function currentRequestId(): string | undefined {
  return context.getStore()?.requestId;
}

export function createLogger(level: LogLevel, name: string): Logger {
  return pino({
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => {
      const requestId = currentRequestId();
      return requestId ? { requestId } : {};
    },
  });
}

/** Nest's LoggerService on top of pino: structured JSON lines, one per message. */
export class PinoNestLogger implements LoggerService {
  constructor(readonly pino: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(
    level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal',
    message: unknown,
    rest: unknown[],
  ) {
    // Nest passes the context (class name) last, and for errors a stack trace before it.
    const ctx = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = ctx ? { context: ctx } : {};
    const fieldsMessage = typeof message === 'object' && message !== null && !(message instanceof Error);
    if (level === 'error' && !fieldsMessage && typeof rest[0] === 'string') fields.stack = rest.shift();
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, message.message);
    } else if (fieldsMessage) {
      // `logger.warn({ evaluationId }, 'what happened')`: the fields, and the text as pino's msg.
      const text = typeof rest[0] === 'string' ? rest[0] : undefined;
      this.pino[level]({ ...fields, ...(message as object) }, text);
    } else {
      this.pino[level](fields, String(message));
    }
  }
}
