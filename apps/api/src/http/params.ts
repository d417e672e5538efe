import { BadRequestException, ParseIntPipe, ParseUUIDPipe } from '@nestjs/common';

/** A path parameter that must be a UUID; the message names the parameter and what was given. */
export function uuidParam(name: string): ParseUUIDPipe {
  return new ParseUUIDPipe({
    exceptionFactory: () => new BadRequestException(`path parameter ${name} must be a UUID`),
  });
}

/** A path parameter that must be a non-negative integer (a checkpoint step). */
export function stepParam(name: string): ParseIntPipe {
  return new ParseIntPipe({
    exceptionFactory: () =>
      new BadRequestException(`path parameter ${name} must be a non-negative integer (the checkpoint step)`),
  });
}
