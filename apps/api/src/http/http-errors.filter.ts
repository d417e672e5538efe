import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { type Response } from 'express';
import { type Observable } from 'rxjs';
import { currentRequestId, isInfrastructureUnavailable } from '../../../../libs/common/src/index.js';

/** The one error body every endpoint returns: no stack traces, a message a person can act on. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/**
 * Turns every exception into `{statusCode, error, message}` JSON. HttpExceptions keep their status and
 * message (class-validator's list of problems is joined into one sentence); anything else is a 500 whose
 * message carries the request id to find the logged cause with, and nothing of the cause itself.
 */
@Catch()
export class HttpErrorsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrors');
  private readonly rpc = new BaseRpcExceptionFilter();

  catch(exception: unknown, host: ArgumentsHost): void | Observable<unknown> {
    // The gRPC server shares the app's filters (inheritAppConfig); its errors stay gRPC status errors.
    if (host.getType() === 'rpc') return this.rpc.catch(exception, host);
    const res = host.switchToHttp().getResponse<Response>();
    const body = toErrorBody(exception);
    if (body.statusCode >= 500) this.logger.error(exception instanceof Error ? exception : String(exception));
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(body.statusCode).json(body);
  }
}

export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    const response = exception.getResponse();
    let message: string = exception.message;
    let error = HttpStatus[statusCode]?.replace(/_/g, ' ') ?? 'Error';
    if (typeof response === 'string') message = response;
    else if (response && typeof response === 'object') {
      const r = response as { message?: unknown; error?: unknown };
      if (Array.isArray(r.message)) message = r.message.join('; ');
      else if (typeof r.message === 'string') message = r.message;
      if (typeof r.error === 'string') error = r.error;
    }
    return { statusCode, error: titleCase(error), message };
  }
  // Postgres refused a value the request carried (a NUL character in text, a number out of range for its
  // column, text that is not a uuid or a date): the client's input, so a 400 naming the problem.
  const code = sqlState(exception);
  if (code !== undefined && INPUT_DATA_ERRORS.has(code)) {
    return {
      statusCode: 400,
      error: 'Bad Request',
      message: `a value in the request cannot be stored: ${(exception as Error).message}`,
    };
  }
  // Postgres or NATS is down or restarting: nothing the client did, and worth retrying (uploads are
  // idempotent), which a 503 says and a 500 does not.
  if (isInfrastructureUnavailable(exception)) {
    return {
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Postgres or NATS is unavailable; retry shortly',
    };
  }
  // body-parser and other Express middleware errors carry an HTTP status of their own.
  const status = (exception as { status?: unknown; statusCode?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      statusCode: status,
      error: titleCase(HttpStatus[status]?.replace(/_/g, ' ') ?? 'Bad Request'),
      message: `request body could not be read: ${(exception as Error).message}`,
    };
  }
  const requestId = currentRequestId();
  return {
    statusCode: 500,
    error: 'Internal Server Error',
    message: `internal error${requestId ? ` (request id ${requestId}, see the API log)` : ''}`,
  };
}

function titleCase(s: string): string {
  return s
    .toLowerCase()
    .split(' ')
    .map((w) => (w ? w[0].toUpperCase() + w.slice(1) : w))
    .join(' ');
}

/**
 * SQLSTATEs of data exceptions caused by a value the client sent: 22001 string too long, 22003 numeric
 * value out of range (e.g. 1e300 into real), 22007/22008 bad or overflowing datetime, 22021 character not
 * in repertoire (NUL in text), 22P02 invalid text representation, 22P05 untranslatable character (\u0000 in
 * jsonb).
 */
const INPUT_DATA_ERRORS = new Set(['22001', '22003', '22007', '22008', '22021', '22P02', '22P05']);

/** The SQLSTATE of a Postgres error (pg's DatabaseError, or TypeORM's QueryFailedError around it). */
function sqlState(exception: unknown): string | undefined {
  const e = exception as {
    code?: unknown;
    driverError?: { code?: unknown };
  } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
