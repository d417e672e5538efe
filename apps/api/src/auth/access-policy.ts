import { type Role } from '../../../../libs/auth/src/index.js';

/**
 * Who may call what: every REST route and gRPC method of the API, in one table. The guard refuses any
 * route that is not listed here (fail closed), and test/auth checks that every route is listed.
 *
 * Scopes say how a request's project is found:
 * - `public`: no key (health, metrics, the dashboard's static files, OpenAPI).
 * - `org`: resources shared by every project (SAEs and their watchlists).
 * - `run` / `evaluation` / `alert` / `webhook`: the project of the resource named by a path parameter
 *   (or, for gRPC, a request field).
 * - `project`: a path parameter, query parameter or body field that names the project. On list
 *   endpoints a project-scoped key that names no project is narrowed to its own.
 */
export type Scope =
  | { kind: 'public' }
  | { kind: 'org'; role: Role }
  | { kind: 'run' | 'evaluation' | 'alert' | 'webhook'; role: Role; field: string }
  | { kind: 'project'; role: Role; field: string; from: 'param' | 'query' | 'body'; narrowLists?: boolean };

const PUBLIC: Scope = { kind: 'public' };

/** REST: `METHOD /path/as/routed`. */
export const HTTP_POLICY: Record<string, Scope> = {
  'GET /healthz': PUBLIC,
  'GET /readyz': PUBLIC,
  'GET /metrics': PUBLIC,
  'GET /': PUBLIC,
  'GET /assets/vendor/:file': PUBLIC,
  'GET /assets/*path': PUBLIC,

  'POST /v1/saes': { kind: 'org', role: 'admin' },
  'GET /v1/saes': { kind: 'org', role: 'read' },
  'GET /v1/saes/:id': { kind: 'org', role: 'read' },
  'GET /v1/saes/:id/watchlist': { kind: 'org', role: 'read' },
  'PUT /v1/saes/:id/watchlist': { kind: 'org', role: 'admin' },

  'POST /v1/runs': { kind: 'project', role: 'write', field: 'project', from: 'body' },
  'GET /v1/runs': { kind: 'project', role: 'read', field: 'project', from: 'query', narrowLists: true },
  'GET /v1/runs/:id': { kind: 'run', role: 'read', field: 'id' },
  'GET /v1/runs/:id/evaluations': { kind: 'run', role: 'read', field: 'id' },
  'PUT /v1/runs/:runId/checkpoints/:step/activations': { kind: 'run', role: 'write', field: 'runId' },
  'GET /v1/evaluations/:id': { kind: 'evaluation', role: 'read', field: 'id' },

  'GET /v1/runs/:runId/trend': { kind: 'run', role: 'read', field: 'runId' },
  'GET /v1/runs/:runId/top-latents': { kind: 'run', role: 'read', field: 'runId' },
  'GET /v1/projects/:project/emerging-latents': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'param',
  },
  'GET /v1/fleet/drift': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'query',
    narrowLists: true,
  },
  'GET /v1/alerts': { kind: 'project', role: 'read', field: 'project', from: 'query', narrowLists: true },
  'GET /v1/alerts/stream': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'query',
    narrowLists: true,
  },
  'POST /v1/alerts/:id/ack': { kind: 'alert', role: 'write', field: 'id' },
  'POST /v1/webhooks': { kind: 'project', role: 'admin', field: 'project', from: 'body' },
  'GET /v1/webhooks': { kind: 'project', role: 'read', field: 'project', from: 'query', narrowLists: true },
  'GET /v1/webhooks/:id/deliveries': { kind: 'webhook', role: 'read', field: 'id' },
};

/** gRPC: `Service.Method`; fields are the request message's (camelCase, as proto-loader gives them). */
export const GRPC_POLICY: Record<string, Scope> = {
  'EarlyWarning.GetRunTrend': { kind: 'run', role: 'read', field: 'runId' },
  'EarlyWarning.GetTopLatents': { kind: 'run', role: 'read', field: 'runId' },
  'EarlyWarning.GetEmergingLatents': { kind: 'project', role: 'read', field: 'project', from: 'body' },
  'EarlyWarning.GetFleetDrift': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'body',
    narrowLists: true,
  },
  'EarlyWarning.ListAlerts': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'body',
    narrowLists: true,
  },
  'EarlyWarning.AcknowledgeAlert': { kind: 'alert', role: 'write', field: 'id' },
  'EarlyWarning.WatchAlerts': {
    kind: 'project',
    role: 'read',
    field: 'project',
    from: 'body',
    narrowLists: true,
  },
};
