import { randomUUID } from 'node:crypto';
import { type NextFunction, type Request, type Response } from 'express';
import { withRequestId } from './logger.js';

const HEADER = 'x-request-id';
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes the caller's X-Request-Id (or makes one), echoes it, and tags every log line of the request. */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const given = req.header(HEADER);
  const requestId = given && VALID_ID.test(given) ? given : randomUUID();
  res.setHeader(HEADER, requestId);
  withRequestId(requestId, next);
}
