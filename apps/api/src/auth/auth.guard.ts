import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
} from '@nestjs/common';
import { type Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { type Request, type Response } from 'express';
import { DataSource } from 'typeorm';
import {
  ALL_PROJECTS,
  type ApiKeyPrincipal,
  roleAllows,
  verifyApiKey,
} from '../../../../libs/auth/src/index.js';
import { SENTINEL_CONFIG, type SentinelConfig } from '../../../../libs/common/src/index.js';
import { GRPC_POLICY, HTTP_POLICY, type Scope } from './access-policy.js';
import { RateLimiter } from './rate-limiter.js';
import { ResourceProjectsRepository } from './resource-projects.repository.js';

/** A verified key is remembered this long, so each request does not cost a query; revocation waits as long. */
const KEY_CACHE_MS = 10_000;

/** What the guard found, for handlers and logs. */
export interface AuthenticatedRequest extends Request {
  principal?: ApiKeyPrincipal;
}

type Denial = { status: 401 | 403 | 404 | 429; message: string; retryAfterSeconds?: number };

/**
 * Authenticates `Authorization: Bearer <key>` (REST, and the same header as gRPC metadata; `?key=` on the
 * alert stream, since EventSource cannot send headers) and authorises it against access-policy.ts: the
 * key's role must reach the route's, and its project must own the resource. A resource of another
 * project answers 404, as if it did not exist.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly limiter: RateLimiter;
  private readonly cache = new Map<string, { principal: ApiKeyPrincipal | null; until: number }>();

  constructor(
    @Inject(SENTINEL_CONFIG) private readonly config: SentinelConfig,
    private readonly dataSource: DataSource,
    private readonly projects: ResourceProjectsRepository,
  ) {
    this.limiter = new RateLimiter(config.rateLimitPerMinute);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() === 'rpc') return this.checkRpc(context);
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const route = `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? req.path}`;
    const scope = HTTP_POLICY[route];
    if (!scope) throw new ForbiddenException(`no access policy for ${route}`);
    if (scope.kind === 'public' || !this.config.authRequired) return true;

    const header = req.header('authorization');
    const presented = header?.startsWith('Bearer ')
      ? header.slice(7).trim()
      : route === 'GET /v1/alerts/stream' && typeof req.query.key === 'string'
        ? req.query.key
        : undefined;
    const denial = await this.authorize(presented, scope, {
      param: (name) => stringField(req.params[name]),
      query: (name) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined),
      body: (name) => (req.body as Record<string, unknown> | undefined)?.[name],
      narrow: (field, project) => {
        // Express 5 exposes req.query as a getter; redefine it so the handler sees the narrowed filter.
        Object.defineProperty(req, 'query', { value: { ...req.query, [field]: project }, writable: true });
      },
      setPrincipal: (p) => (req.principal = p),
    });
    if (!denial) return true;
    if (denial.retryAfterSeconds !== undefined) {
      context
        .switchToHttp()
        .getResponse<Response>()
        .setHeader('Retry-After', String(denial.retryAfterSeconds));
    }
    throw new HttpException(
      { statusCode: denial.status, error: HttpStatus[denial.status], message: denial.message },
      denial.status,
    );
  }

  private async checkRpc(context: ExecutionContext): Promise<boolean> {
    // @GrpcMethod(service, rpc) stores its pattern on the handler; the policy is keyed by `Service.Rpc`.
    const patterns = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as
      { service?: string; rpc?: string }[] | undefined;
    const method = `${patterns?.[0]?.service}.${patterns?.[0]?.rpc}`;
    const scope = GRPC_POLICY[method];
    if (!scope)
      throw new RpcException({
        code: GrpcStatus.PERMISSION_DENIED,
        message: `no access policy for ${method}`,
      });
    if (scope.kind === 'public' || !this.config.authRequired) return true;
    const rpc = context.switchToRpc();
    const data = (rpc.getData() ?? {}) as Record<string, unknown>;
    const metadata = rpc.getContext() as Metadata;
    const header = metadata?.get?.('authorization')?.[0]?.toString();
    const presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const denial = await this.authorize(presented, scope, {
      param: (name) => stringField(data[name]),
      query: (name) => stringField(data[name]),
      body: (name) => data[name],
      narrow: (field, project) => (data[field] = project),
      setPrincipal: () => undefined,
    });
    if (!denial) return true;
    const code = {
      401: GrpcStatus.UNAUTHENTICATED,
      403: GrpcStatus.PERMISSION_DENIED,
      404: GrpcStatus.NOT_FOUND,
      429: GrpcStatus.RESOURCE_EXHAUSTED,
    }[denial.status];
    throw new RpcException({ code, message: denial.message });
  }

  private async authorize(
    presented: string | undefined,
    scope: Exclude<Scope, { kind: 'public' }>,
    request: {
      param(name: string): string | undefined;
      query(name: string): string | undefined;
      body(name: string): unknown;
      narrow(field: string, project: string): void;
      setPrincipal(principal: ApiKeyPrincipal): void;
    },
  ): Promise<Denial | null> {
    if (!presented)
      return { status: 401, message: 'an API key is required: send Authorization: Bearer <key>' };
    const principal = await this.principalOf(presented);
    if (!principal) return { status: 401, message: 'the API key is unknown, revoked or malformed' };
    request.setPrincipal(principal);
    const limited = this.limiter.take(principal.keyId);
    if (!limited.ok) {
      return {
        status: 429,
        message: `rate limit of ${this.config.rateLimitPerMinute} requests a minute reached for this key`,
        retryAfterSeconds: limited.retryAfterSeconds,
      };
    }
    if (!roleAllows(principal.role, scope.role)) {
      return { status: 403, message: `this needs a ${scope.role} key; this key is ${principal.role}` };
    }
    const orgWide = principal.project === ALL_PROJECTS;
    if (scope.kind === 'org' || orgWide) return null;

    if (scope.kind === 'project') {
      const named =
        scope.from === 'param'
          ? request.param(scope.field)
          : scope.from === 'query'
            ? request.query(scope.field)
            : request.body(scope.field);
      if (named === undefined || named === null || named === '') {
        if (scope.narrowLists) {
          request.narrow(scope.field, principal.project);
          return null;
        }
        return {
          status: 403,
          message: `name the project (${scope.field}); this key is for "${principal.project}"`,
        };
      }
      if (named !== principal.project) {
        return {
          status: 403,
          message: `this key is for project "${principal.project}", not "${String(named)}"`,
        };
      }
      return null;
    }

    const id = request.param(scope.field) ?? stringField(request.body(scope.field));
    const owner = id ? await this.projects.projectOf(scope.kind, id) : null;
    // Unknown ids pass: the handler answers its own 404 or 400, and there is nothing to leak.
    if (owner !== null && owner !== principal.project) {
      return { status: 404, message: `${scope.kind} ${id} not found` };
    }
    return null;
  }

  private async principalOf(presented: string): Promise<ApiKeyPrincipal | null> {
    const now = Date.now();
    const cached = this.cache.get(presented);
    if (cached && cached.until > now) return cached.principal;
    const principal = await verifyApiKey(this.dataSource, presented);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(presented, { principal, until: now + KEY_CACHE_MS });
    return principal;
  }
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
