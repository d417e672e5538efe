import { BadRequestException, NotFoundException } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { status } from '@grpc/grpc-js';
import { QueryError } from '../../../../libs/early-warning/src/index.js';

/** Runs a query and turns QueryError into the HTTP error the global filter renders as JSON. */
export async function http<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QueryError) {
      throw err.kind === 'not_found'
        ? new NotFoundException(err.message)
        : new BadRequestException(err.message);
    }
    throw err;
  }
}

/** The same for gRPC: NOT_FOUND and INVALID_ARGUMENT with the same messages. */
export async function rpc<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QueryError) {
      throw new RpcException({
        code: err.kind === 'not_found' ? status.NOT_FOUND : status.INVALID_ARGUMENT,
        message: err.message,
      });
    }
    throw err;
  }
}

/** A query parameter that must be a non-negative integer when given. */
export function optionalInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw))
    throw new BadRequestException(`query parameter ${name} must be a non-negative integer`);
  return Number(raw);
}
