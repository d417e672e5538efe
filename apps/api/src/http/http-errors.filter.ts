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
import { currentRequestId } from '../../../../libs/common/src/index.js';

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
