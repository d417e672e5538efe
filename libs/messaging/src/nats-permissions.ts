import { natsNames } from './names.js';

/**
 * NATS users and their subject permissions: the one source of truth for the NATS account that
 * k8s/helm/nats-values.yaml (`config.merge.accounts`) and docker/nats-accounts.conf hold, which
 * test/deploy compares with this and test/auth/nats-permissions.test.ts runs the apps under.
 *
 * The api and the workers each get only the subjects their code uses (derived from work-queue.ts,
 * sae-objects.ts, the worker's JetStream transport, the alert dispatcher and the API's alert stream):
 *
 * - Both may create the jobs stream, the workers' durable consumer and the two object-store buckets if
 *   they are missing (neither depends on the other starting first), and read their info. Only the API
 *   may update the jobs stream's configuration; neither may delete or purge the jobs stream, delete a
 *   message from it, or delete a bucket.
 * - The API publishes jobs, looks a job up by subject (the sweeper), reads the consumer's depth, writes
 *   and deletes objects in both buckets (a delete purges the object's chunks), and publishes and
 *   subscribes to alert events. It cannot pull from or acknowledge on the work consumer.
 * - A worker pulls from and acknowledges on the one work consumer, reads objects from both buckets (an
 *   ordered consumer on the object's chunks, with flow control), writes result vectors to the
 *   activations bucket, and publishes alert events. It cannot publish a job, write an SAE, subscribe
 *   to alerts or purge anything.
 * - Each receives replies only on its own inbox prefix, `_INBOX.<user>.>` (the apps connect with that
 *   `inboxPrefix`), so neither can read the other's replies or deliveries.
 *
 * `sentinel-admin` has the whole account, for operators (nats-box, clean-ups); no app uses it.
 */

/** The NATS account that holds Sentinel's streams, buckets and users (KEDA's trigger names it). */
export const NATS_ACCOUNT = 'SENTINEL';

export type NatsRole = 'api' | 'worker' | 'admin';

/** Each role's user name, and the environment variable of the NATS server that holds its password. */
export const NATS_USERS: Record<NatsRole, { user: string; passwordVariable: string }> = {
  api: { user: 'sentinel-api', passwordVariable: 'SENTINEL_API_NATS_PASSWORD' },
  worker: { user: 'sentinel-worker', passwordVariable: 'SENTINEL_WORKER_NATS_PASSWORD' },
  admin: { user: 'sentinel-admin', passwordVariable: 'SENTINEL_ADMIN_NATS_PASSWORD' },
};

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** Where a connection of this user receives replies (request inboxes, consumer deliveries). */
export function natsInboxPrefix(user: string): string {
  return `_INBOX.${user}`;
}

const JS = '$JS.API';

/** Both apps: find (or create, if missing) the four JetStream objects they share. */
function sharedSetup(prefix: string): string[] {
  const n = natsNames(prefix);
  const streams = [n.jobsStream, `OBJ_${n.activationsBucket}`, `OBJ_${n.saesBucket}`];
  return [
    // Account and API level, asked when a JetStream client starts.
    `${JS}.INFO`,
    ...streams.flatMap((s) => [`${JS}.STREAM.INFO.${s}`, `${JS}.STREAM.CREATE.${s}`]),
    `${JS}.CONSUMER.INFO.${n.jobsStream}.${n.workersConsumer}`,
    // Create (and, on this server version, reconcile) the one durable consumer; both subject forms.
    `${JS}.CONSUMER.CREATE.${n.jobsStream}.${n.workersConsumer}`,
    `${JS}.CONSUMER.DURABLE.CREATE.${n.jobsStream}.${n.workersConsumer}`,
  ];
}

/** An object's metadata is found by `last_by_subj` on the bucket's stream. */
function objectLookup(bucket: string): string[] {
  return [`${JS}.STREAM.MSG.GET.OBJ_${bucket}`];
}

/** Reading an object: an ordered (ephemeral) push consumer on its chunks, with flow-control replies. */
function objectRead(bucket: string): string[] {
  return [`${JS}.CONSUMER.CREATE.OBJ_${bucket}.>`, `$JS.FC.OBJ_${bucket}.>`];
}

/** Writing an object: chunks and metadata on the bucket's own subjects. */
function objectWrite(bucket: string): string[] {
  return [`$O.${bucket}.>`];
}

/** Deleting or replacing an object purges its old chunks (a filtered purge of the bucket's stream). */
function objectPurge(bucket: string): string[] {
  return [`${JS}.STREAM.PURGE.OBJ_${bucket}`];
}

/** The subjects one app's user may publish and subscribe to, for a NATS_PREFIX. */
export function natsPermissions(role: 'api' | 'worker', prefix: string): NatsPermissions {
  const n = natsNames(prefix);
  const inbox = `${natsInboxPrefix(NATS_USERS[role].user)}.>`;
  if (role === 'api') {
    return {
      publish: {
        allow: [
          ...sharedSetup(prefix),
          // Reconcile the stream's configuration (NATS_REPLICAS) at start.
          `${JS}.STREAM.UPDATE.${n.jobsStream}`,
          // The sweeper: is the job of an evaluation still in the stream?
          `${JS}.STREAM.MSG.GET.${n.jobsStream}`,
          `${n.jobsSubject}.*`,
          ...[n.activationsBucket, n.saesBucket].flatMap((b) => [
            ...objectLookup(b),
            ...objectWrite(b),
            ...objectPurge(b),
          ]),
          n.alertsWildcard,
        ],
      },
      subscribe: { allow: [inbox, n.alertsWildcard] },
    };
  }
  return {
    publish: {
      allow: [
        ...sharedSetup(prefix),
        `${JS}.CONSUMER.MSG.NEXT.${n.jobsStream}.${n.workersConsumer}`,
        // ack, nak, term and in-progress (working) of the messages of the work consumer
        `$JS.ACK.${n.jobsStream}.${n.workersConsumer}.>`,
        ...[n.activationsBucket, n.saesBucket].flatMap((b) => [...objectLookup(b), ...objectRead(b)]),
        // Result vectors of large SAEs go next to the activations.
        ...objectWrite(n.activationsBucket),
        n.alertsWildcard,
      ],
    },
    subscribe: { allow: [inbox] },
  };
}

export interface NatsAccountUser {
  user: string;
  password: string;
  permissions?: NatsPermissions;
}

export type NatsAccounts = Record<string, { jetstream: 'enabled'; users: NatsAccountUser[] }>;

/**
 * The `accounts` block of the NATS server configuration, in the form of the NATS Helm chart's
 * `config.merge`: each password is the variable of the server's environment that holds it, written
 * `<< $VAR >>` (the chart's syntax for an unquoted value; `natsConfText` renders it the same way).
 */
export function natsAccounts(prefix: string): NatsAccounts {
  const user = (role: NatsRole): NatsAccountUser => ({
    user: NATS_USERS[role].user,
    password: `<< $${NATS_USERS[role].passwordVariable} >>`,
    ...(role === 'admin' ? {} : { permissions: natsPermissions(role, prefix) }),
  });
  return { [NATS_ACCOUNT]: { jetstream: 'enabled', users: [user('api'), user('worker'), user('admin')] } };
}

/**
 * NATS configuration text holding `accounts` as the Helm chart renders `config.merge` (JSON, with
 * `<< … >>` values unquoted), for a server started with `-c` (docker compose, the tests).
 */
export function natsConfText(prefix: string): string {
  const body = JSON.stringify({ accounts: natsAccounts(prefix) }, null, 2).replace(
    /"<< (.*?) >>"/g,
    (_whole, value: string) => value,
  );
  return (
    `# Generated from libs/messaging/src/nats-permissions.ts for NATS_PREFIX=${prefix} by\n` +
    `# \`node scripts/nats-accounts.mjs ${prefix}\`; test/deploy fails when it differs. Do not edit.\n` +
    `# Passwords come from the server's environment: ${Object.values(NATS_USERS)
      .map((u) => `$${u.passwordVariable}`)
      .join(', ')}.\n` +
    `${body}\n`
  );
}
