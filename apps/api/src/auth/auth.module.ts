import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { ResourceProjectsRepository } from './resource-projects.repository.js';

/** API keys on every REST route and gRPC method (see access-policy.ts for who may call what). */
@Module({
  providers: [ResourceProjectsRepository, AuthGuard, { provide: APP_GUARD, useExisting: AuthGuard }],
})
export class AuthModule {}
